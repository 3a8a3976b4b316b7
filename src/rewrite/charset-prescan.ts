import { Tokenizer } from 'parse5';
import { trimAsciiWhitespace } from './ascii-whitespace.js';

/** How much of a page a browser looks at for a `<meta>` charset before it decodes anything (HTML standard §13.2.3.2). */
export const PRESCAN_BYTES = 1024;

const ignore = (): void => undefined;

/** An encoding a byte-order mark names. */
export type ByteOrderMark = 'utf-8' | 'utf-16be' | 'utf-16le';

const BYTE_ORDER_MARKS: readonly (readonly [string, ByteOrderMark])[] = [['\xEF\xBB\xBF', 'utf-8'], ['\xFE\xFF', 'utf-16be'], ['\xFF\xFE', 'utf-16le']];

/**
 * WHATWG Encoding §6 "BOM sniff", which the HTML standard's encoding sniffing (§13.2.3.2, its first step) and CSS
 * Syntax (§3.2, through "decode") run before anything else: a byte-order mark names the encoding, over the
 * Content-Type's charset and the document's own `<meta>` or `@charset`. `head` is the start of a binary string.
 */
export function byteOrderMark(head: string): ByteOrderMark | undefined {
  return BYTE_ORDER_MARKS.find(([mark]) => head.startsWith(mark))?.[1];
}

/** Whether `head` is the start of a byte-order mark but not all of it: a stream must wait for more bytes (3 at most). */
export function partialByteOrderMark(head: string): boolean {
  return BYTE_ORDER_MARKS.some(([mark]) => mark.length > head.length && mark.startsWith(head));
}

/**
 * "The algorithm for extracting a character encoding from a meta element" (HTML standard §2.6.5), in short:
 * `charset`, white space, `=`, white space, then a quoted value or one running to white space or `;`.
 */
function charsetInContent(content: string): string | undefined {
  const match = /charset[\t\n\f\r ]*=[\t\n\f\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r ;"']+))/i.exec(content);
  return match ? (match[1] ?? match[2] ?? match[3]) : undefined;
}

/**
 * The charset a page declares for itself, as a browser finds it before decoding: a byte-order mark, else the
 * first `<meta charset>` or `<meta http-equiv="content-type" content="…charset=…">` in the first 1024 bytes
 * (the prescan reads tags without the tree builder's text states, and skips comments, as parse5's bare
 * tokenizer does). `head` is a binary string.
 */
export function declaredCharset(head: string): string | undefined {
  const mark = byteOrderMark(head);
  if (mark) return mark;
  let charset: string | undefined;
  const tokenizer = new Tokenizer({ sourceCodeLocationInfo: false }, {
    onStartTag: (token) => {
      if (charset !== undefined || token.tagName !== 'meta') return;
      const attribute = (name: string) => token.attrs.find((a) => a.name === name)?.value;
      const direct = attribute('charset');
      const pragma = attribute('http-equiv')?.toLowerCase() === 'content-type' ? charsetInContent(attribute('content') ?? '') : undefined;
      charset = direct ?? pragma;
    },
    onEndTag: ignore, onComment: ignore, onDoctype: ignore, onCharacter: ignore, onNullCharacter: ignore, onWhitespaceCharacter: ignore, onEof: ignore,
  });
  tokenizer.write(head.slice(0, PRESCAN_BYTES), true);
  const label = charset === undefined ? undefined : trimAsciiWhitespace(charset);
  return label === '' ? undefined : label;
}
