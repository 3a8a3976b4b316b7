import { Tokenizer } from 'parse5';
import { trimAsciiWhitespace } from './ascii-whitespace.js';

/** How much of a page a browser looks at for a `<meta>` charset before it decodes anything (HTML standard §13.2.3.2). */
export const PRESCAN_BYTES = 1024;

const ignore = (): void => undefined;

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
  if (head.startsWith('\xEF\xBB\xBF')) return 'utf-8';
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
