/**
 * CSS as a browser reads it, on the binary strings the rewriters work with. Everything here keeps lengths, so an
 * offset found in the readable text is an offset in the source.
 */

const isHexDigit = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);
const isCssWhitespace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f';

/**
 * The stylesheet with the CDO and CDC tokens (`<!--`, `-->`) of its top level blanked out: CSS Syntax §5.4.1 has
 * the stylesheet parser skip them there, which is how old sites hid `<style>` contents from pre-CSS browsers.
 * postcss does not know them and would reject the whole sheet.
 */
export function withoutTopLevelCdoCdc(css: string): string {
  if (!css.includes('<!--') && !css.includes('-->')) return css;
  let out = '';
  let from = 0;
  let depth = 0;
  let i = 0;
  while (i < css.length) {
    const c = css[i]!;
    if (c === '/' && css[i + 1] === '*') {
      const close = css.indexOf('*/', i + 2);
      i = close === -1 ? css.length : close + 2;
    } else if (c === '"' || c === "'") {
      i += 1;
      while (i < css.length && css[i] !== c && css[i] !== '\n') i += css[i] === '\\' ? 2 : 1;
      i += 1;
    } else if (c === '\\') {
      i += 2;
    } else if (c === '{') {
      depth += 1;
      i += 1;
    } else if (c === '}') {
      depth = Math.max(0, depth - 1);
      i += 1;
    } else if (depth === 0 && (css.startsWith('<!--', i) || css.startsWith('-->', i))) {
      const length = c === '<' ? 4 : 3;
      out += css.slice(from, i) + ' '.repeat(length);
      i += length;
      from = i;
    } else {
      i += 1;
    }
  }
  return out + css.slice(from);
}

/** A URL as CSS reads it from its source text, and where each of its characters came from. */
export interface CssUrlText {
  readonly url: string;
  /** For each character of `url`, its offset in the source; one more entry: the end of the source span. */
  readonly offsets: readonly number[];
}

/**
 * The text of `css` between `start` and `end` with CSS escapes resolved (CSS Syntax §4.3.7): `a\3f b.png` is
 * `a?b.png` (so a mark joins it with `&`), `\)` is `)`. A backslash before a newline is a line continuation.
 */
export function cssUnescape(css: string, start: number, end: number): CssUrlText {
  let url = '';
  const offsets: number[] = [];
  let i = start;
  while (i < end) {
    const c = css[i]!;
    if (c !== '\\') {
      offsets.push(i);
      url += c;
      i += 1;
      continue;
    }
    const next = css[i + 1];
    if (i + 1 >= end) {
      offsets.push(i);
      url += '\uFFFD';
      i += 1;
    } else if (next === '\n' || next === '\f') {
      i += 2;
    } else if (next === '\r') {
      i += css[i + 2] === '\n' ? 3 : 2;
    } else if (isHexDigit(next)) {
      let j = i + 1;
      while (j < end && j < i + 7 && isHexDigit(css[j])) j += 1;
      const codePoint = parseInt(css.slice(i + 1, j), 16);
      if (j < end && isCssWhitespace(css[j])) j += css[j] === '\r' && css[j + 1] === '\n' ? 2 : 1;
      const valid = codePoint !== 0 && codePoint <= 0x10ffff && (codePoint < 0xd800 || codePoint > 0xdfff);
      const text = String.fromCodePoint(valid ? codePoint : 0xfffd);
      for (let k = 0; k < text.length; k += 1) offsets.push(i);
      url += text;
      i = j;
    } else {
      offsets.push(i);
      url += next;
      i += 2;
    }
  }
  offsets.push(end);
  return { url, offsets };
}

export { isCssWhitespace };
