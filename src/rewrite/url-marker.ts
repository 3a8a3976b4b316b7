import type { Capabilities } from '../client/index.js';
import { isMarked, markInsertion, resolvesToSite } from '../marks/index.js';
import { leadingAsciiWhitespace, trimAsciiWhitespace } from './ascii-whitespace.js';

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
  // Only ASCII white space surrounds a URL (HTML standard §2.5.1); a byte above 0x7F is part of it.
  const leading = leadingAsciiWhitespace(url);
  const trimmed = trimAsciiWhitespace(url);
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  if (!onSite(trimmed, base, context.site)) return undefined;
  if (isMarked(trimmed)) return undefined;
  const insertion = markInsertion(trimmed, context.capabilities);
  return { ...insertion, at: insertion.at + leading };
}

/**
 * A reference with no scheme, no authority and nothing the URL parser rewrites (a backslash, tab or newline, a
 * leading control character) keeps its base's host: such a URL is on the site exactly when its base is. Most
 * image URLs of a page are like that; the others go through the URL parser.
 */
// eslint-disable-next-line no-control-regex -- a leading control character is stripped by the URL parser: not plain
const PLAIN_REFERENCE = /^(?![/\\]{2})[^\x00-\x20:/?#\\][^:/?#\\\t\n\r]*(?:[/?#][^\\\t\n\r]*)?$|^\/(?![/\\])[^\\\t\n\r]*$/;

const baseOnSite = new WeakMap<URL, WeakMap<URL, boolean>>();

function onSite(url: string, base: URL, site: URL): boolean {
  if (!PLAIN_REFERENCE.test(url)) return resolvesToSite(url, base, site) !== undefined;
  let bySite = baseOnSite.get(base);
  if (!bySite) baseOnSite.set(base, (bySite = new WeakMap()));
  let known = bySite.get(site);
  if (known === undefined) bySite.set(site, (known = resolvesToSite('x', base, site) !== undefined));
  return known;
}
