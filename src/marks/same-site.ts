/** URL schemes that never name a resource of the proxied site. */
// eslint-disable-next-line no-control-regex -- the WHATWG URL parser strips leading C0 controls and spaces
const NEVER_MARKED = /^[\x00-\x20]*(data|blob|javascript|about|mailto|tel|cid|filesystem):/i;

const DEFAULT_PORT: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };

/**
 * Whether `url`, as written in a document at `base`, names a resource of the site the document came from
 * (SPEC §2: only those are marked). Same host name and port; http and https count as one site when both use
 * their default port, because legacy pages hard-code `http://` links to themselves behind a TLS front.
 */
export function resolvesToSite(url: string, base: URL, site: URL): URL | undefined {
  if (/^[\t\n\f\r ]*$/.test(url) || NEVER_MARKED.test(url)) return undefined;
  let resolved: URL;
  try {
    resolved = new URL(url, base);
  } catch {
    return undefined;
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') return undefined;
  if (resolved.hostname !== site.hostname) return undefined;
  const port = resolved.port || DEFAULT_PORT[resolved.protocol];
  const sitePort = site.port || DEFAULT_PORT[site.protocol];
  if (port === sitePort && resolved.protocol === site.protocol) return resolved;
  if (resolved.port === '' && site.port === '') return resolved;
  return undefined;
}
