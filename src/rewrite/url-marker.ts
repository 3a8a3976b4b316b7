import type { Capabilities } from '../client/index.js';
import { isMarked, markInsertion, resolvesToSite } from '../marks/index.js';

/** What a rewriter needs to know to mark a URL found in a document. */
export interface MarkingContext {
  /** The site as the client sees it (scheme, host, port): only its resources are marked. */
  readonly site: URL;
  readonly capabilities: Capabilities;
}

/** The text to insert into `url` (as decoded from the document) and where, or `undefined` to leave it. */
export interface UrlMark {
  readonly at: number;
  readonly separator: '?' | '&';
  readonly parameter: string;
}

/**
 * SPEC §2: mark a URL that resolves (against `base`: the document's URL or its `<base href>`) to the site
 * itself, and is not already marked.
 */
export function urlMark(url: string, base: URL, context: MarkingContext): UrlMark | undefined {
  // Only ASCII white space surrounds a URL (HTML standard §2.5.1); a byte above 0x7F, such as the A0 that ends
  // many UTF-8 and Shift_JIS characters, is part of it: JavaScript's trim() would cut it off.
  const leading = /^[\t\n\f\r ]*/.exec(url)![0].length;
  const trimmed = url.slice(leading).replace(/[\t\n\f\r ]+$/, '');
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  if (!resolvesToSite(trimmed, base, context.site)) return undefined;
  if (isMarked(trimmed)) return undefined;
  const insertion = markInsertion(trimmed, context.capabilities);
  return { ...insertion, at: insertion.at + leading };
}
