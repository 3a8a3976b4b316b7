/**
 * ASCII white space (HTML standard §2.3, and CSS's whitespace after input preprocessing: the same five
 * characters). The rewriters work on binary strings, one char per byte, where JavaScript's `trim()` and `\s` would
 * also take 0xA0, the last byte of many UTF-8 and Shift_JIS characters: these never do.
 */
export const isAsciiWhitespace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r';

/** How many ASCII white space characters `text` starts with. */
export function leadingAsciiWhitespace(text: string): number {
  let i = 0;
  while (isAsciiWhitespace(text[i])) i += 1;
  return i;
}

/** `text` without the ASCII white space around it. */
export function trimAsciiWhitespace(text: string): string {
  let end = text.length;
  while (end > 0 && isAsciiWhitespace(text[end - 1])) end -= 1;
  return text.slice(Math.min(leadingAsciiWhitespace(text), end), end);
}

/** `text` split at runs of ASCII white space. */
export function splitOnAsciiWhitespace(text: string): string[] {
  return text.split(/[\t\n\f\r ]+/);
}
