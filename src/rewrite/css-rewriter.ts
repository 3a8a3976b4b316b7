import { byteOrderMark } from './charset-prescan.js';
import { type CssUrl, stylesheetImageUrls } from './css-urls.js';
import { applyEdits, type Edit } from './text-span.js';
import { type MarkingContext, urlMark } from './url-marker.js';

/** The mark insertions for image URLs found in some CSS text; `offset` places them in a larger text. */
export function cssMarkEdits(urls: readonly CssUrl[], offset: number, base: URL, marking: MarkingContext): Edit[] {
  const edits: Edit[] = [];
  for (const url of urls) {
    const mark = urlMark(url.url, base, marking);
    if (!mark) continue;
    const at = offset + url.offsets[mark.at]!;
    edits.push({ start: at, end: at, text: mark.separator + mark.parameter });
  }
  return edits;
}

/**
 * SPEC §4: a stylesheet with its image URLs marked, byte for byte the same elsewhere. Relative URLs resolve
 * against the stylesheet's own URL. Works on "binary" strings like the HTML rewriter, so any ASCII-compatible
 * charset passes untouched; `charset` (the label the stylesheet came with) says how to read its bytes. A UTF-16
 * sheet (by its byte-order mark; a UTF-16 label never gets here, see `rewritableDocument`) is returned as it is.
 */
export function rewriteStylesheet(css: string, stylesheetUrl: URL, marking: MarkingContext, charset?: string): string {
  // CSS Syntax §3.2: a byte-order mark wins over the Content-Type's charset, which wins over `@charset`. A UTF-16
  // sheet is not ASCII-compatible: its bytes read one by one are not its CSS, so it stays as it is.
  const mark = byteOrderMark(css);
  if (mark === 'utf-16be' || mark === 'utf-16le') return css;
  const declared = mark === 'utf-8' ? mark : (charset ?? charsetRule(css));
  const edits = cssMarkEdits(stylesheetImageUrls(css, declared), 0, stylesheetUrl, marking);
  if (declared !== undefined || !MAY_READ_OTHERWISE.test(css)) return applyEdits(css, edits);
  // No label at all: a browser reads the sheet in its page's encoding (CSS Syntax §3.2, the environment encoding),
  // which the proxy does not know. In Shift_JIS, GBK or Big5 a byte after a lead byte is half of a character (表 is
  // 95 5C: no backslash), so the marks are those every reading agrees on, or none: the sheet stays as it is.
  for (const family of ['shift_jis', 'gbk', 'big5']) {
    if (!sameEdits(edits, cssMarkEdits(stylesheetImageUrls(css, family), 0, stylesheetUrl, marking))) return css;
  }
  return applyEdits(css, edits);
}

/** A byte above 0x7F followed by one a legacy multi-byte charset may read as its trail byte (0x40–0x7E). */
const MAY_READ_OTHERWISE = /[\x80-\xff][\x40-\x7e]/;

function sameEdits(a: readonly Edit[], b: readonly Edit[]): boolean {
  return a.length === b.length && a.every((edit, i) => edit.start === b[i]!.start && edit.end === b[i]!.end && edit.text === b[i]!.text);
}

/** A stylesheet's own `@charset "…";` rule (CSS Syntax §3.2: only this exact form, at the very start). */
function charsetRule(css: string): string | undefined {
  return /^@charset "([^"]{1,40})";/.exec(css)?.[1];
}
