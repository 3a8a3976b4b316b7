/**
 * CSS as a browser reads it, on the binary strings the rewriters work with. Everything here keeps lengths, so an
 * offset found in the readable text is an offset in the source.
 */
import { isAsciiWhitespace as isCssWhitespace } from './ascii-whitespace.js';

const isHexDigit = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);

/**
 * How many characters the escape starting with the backslash at `i` takes (CSS Syntax §4.3.7): a hex escape is up
 * to six hex digits and one white space after them (`\3f b` is `?b`), any other escape one character.
 */
export function escapeLength(css: string, i: number, end: number): number {
  let j = i + 1;
  while (j < end && j < i + 7 && isHexDigit(css[j])) j += 1;
  if (j === i + 1) return Math.min(2, end - i);
  if (j < end && isCssWhitespace(css[j])) j += css[j] === '\r' && css[j + 1] === '\n' ? 2 : 1;
  return j - i;
}

const isNameCharacter = (c: string | undefined): boolean => c !== undefined && (/[A-Za-z0-9_-]/.test(c) || c.charCodeAt(0) >= 0x80);

/**
 * Where the unquoted URL of a `url(` at `open` (the index of `(`) ends, and whether CSS reads it as a bad-url
 * token (CSS Syntax §4.3.6: a quote, `(`, white space before the end, a non-printable character or an escaped
 * newline). `end` is the index of the closing `)`, or the text's length.
 */
function unquotedUrl(css: string, open: number): { start: number; end: number; bad: boolean } | undefined {
  let i = open + 1;
  while (isCssWhitespace(css[i])) i += 1;
  if (css[i] === '"' || css[i] === "'") return undefined;
  const start = i;
  let bad = false;
  while (i < css.length && css[i] !== ')') {
    const c = css.charCodeAt(i);
    if (c === 0x5c) {
      const next = css[i + 1];
      if (next === undefined || next === '\n' || next === '\r' || next === '\f') bad = true;
      i += escapeLength(css, i, css.length);
      continue;
    }
    if (isCssWhitespace(css[i])) {
      let j = i;
      while (isCssWhitespace(css[j])) j += 1;
      if (j < css.length && css[j] !== ')') bad = true;
      i = j;
      continue;
    }
    if (c === 0x22 || c === 0x27 || c === 0x28 || (c >= 0x01 && c <= 0x08) || c === 0x0b || (c >= 0x0e && c <= 0x1f) || c === 0x7f) bad = true;
    i += 1;
  }
  return { start, end: i, bad };
}

/**
 * The stylesheet as postcss should see it, each change the same length as what it replaces:
 * - the CDO and CDC tokens (`<!--`, `-->`) of its top level blanked out: CSS Syntax §5.4.1 has the stylesheet
 *   parser skip them there, which is how old sites hid `<style>` contents from pre-CSS browsers; postcss does
 *   not know them and would reject the whole sheet;
 * - the inside of a bad `url(…)` replaced by U+0001 characters: CSS reads it as one bad-url token up to its `)`,
 *   postcss as a string that may run to the end of the sheet; the U+0001s keep it recognisably bad; so is a
 *   `url(` the sheet ends in;
 * - the inside of a string the sheet ends in, which CSS reads as text to the end.
 */
const isNewline = (c: string | undefined): boolean => c === '\n' || c === '\r' || c === '\f';

export function readableCss(css: string): string {
  // A UTF-8 byte-order mark (three bytes here) is not CSS: browsers drop it before they read the sheet.
  const bom = css.startsWith('\xEF\xBB\xBF') ? 3 : 0;
  if (bom === 0 && !css.includes('<!--') && !css.includes('-->') && !/url\(|image-set\(/i.test(css)) return css;
  let out = ' '.repeat(bom);
  let from = bom;
  let depth = 0;
  let i = bom;
  while (i < css.length) {
    const c = css[i]!;
    if (c === '/' && css[i + 1] === '*') {
      const close = css.indexOf('*/', i + 2);
      i = close === -1 ? css.length : close + 2;
    } else if (c === '"' || c === "'") {
      const open = i;
      i += 1;
      // A line break ends a string (CSS Syntax §3.3: CR, FF and CR LF read as LF); an escaped one continues it.
      while (i < css.length && css[i] !== c && !isNewline(css[i])) i += css[i] !== '\\' ? 1 : css[i + 1] === '\r' && css[i + 2] === '\n' ? 3 : 2;
      if (i >= css.length) {
        // A string the sheet ends in holds everything to the end (CSS Syntax §4.3.5): no `url()` in there.
        out += css.slice(from, open + 1) + css.slice(open + 1).replace(/[^\n]/g, '_');
        from = css.length;
      }
      i += 1;
    } else if (c === '\\') {
      i += 2;
    } else if (c === '{') {
      depth += 1;
      i += 1;
    } else if (c === '}') {
      depth = Math.max(0, depth - 1);
      i += 1;
    } else if ((c === 'u' || c === 'U') && /^url\(/i.test(css.slice(i, i + 4)) && !isNameCharacter(css[i - 1]) && css[i - 1] !== '\\') {
      const url = unquotedUrl(css, i + 3);
      if (!url) {
        i += 4;
      } else {
        // A `url(` the sheet ends in runs to the end (`}` and `;` are part of it): where postcss would end it
        // is not where CSS does, so it is taken for bad and left as it is.
        if (url.bad || url.end >= css.length) {
          out += css.slice(from, url.start) + '\u0001'.repeat(url.end - url.start);
          from = url.end;
        }
        i = url.end + 1;
      }
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
      const j = i + escapeLength(css, i, end);
      // parseInt stops at the white space the escape may end with.
      const codePoint = parseInt(css.slice(i + 1, j), 16);
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
