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
  return applyEdits(css, cssMarkEdits(stylesheetImageUrls(css, declared), 0, stylesheetUrl, marking));
}

/** A stylesheet's own `@charset "…";` rule (CSS Syntax §3.2: only this exact form, at the very start). */
function charsetRule(css: string): string | undefined {
  return /^@charset "([^"]{1,40})";/.exec(css)?.[1];
}
