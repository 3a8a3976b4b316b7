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
  const trimmed = url.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  if (!resolvesToSite(trimmed, base, context.site)) return undefined;
  if (isMarked(trimmed)) return undefined;
  const leading = url.length - url.trimStart().length;
  const insertion = markInsertion(trimmed, context.capabilities);
  return { ...insertion, at: insertion.at + leading };
}
