import { stylesheetImageUrls } from './css-urls.js';
import { applyEdits, type Edit, type UrlSpan } from './text-span.js';
import { type MarkingContext, urlMark } from './url-marker.js';

/** The mark insertions for the image URLs `find` locates in `css`; `offset` places them in a larger text. */
export function cssMarkEdits(css: string, offset: number, base: URL, marking: MarkingContext, find: (css: string) => UrlSpan[]): Edit[] {
  const edits: Edit[] = [];
  for (const span of find(css)) {
    const mark = urlMark(css.slice(span.start, span.end), base, marking);
    if (!mark) continue;
    const at = offset + span.start + mark.at;
    edits.push({ start: at, end: at, text: mark.separator + mark.parameter });
  }
  return edits;
}

/**
 * SPEC §4: a stylesheet with its image URLs marked, byte for byte the same elsewhere. Relative URLs resolve
 * against the stylesheet's own URL. Works on "binary" strings like the HTML rewriter, so any ASCII-compatible
 * charset passes untouched.
 */
export function rewriteStylesheet(css: string, stylesheetUrl: URL, marking: MarkingContext): string {
  return applyEdits(css, cssMarkEdits(css, 0, stylesheetUrl, marking, stylesheetImageUrls));
}
