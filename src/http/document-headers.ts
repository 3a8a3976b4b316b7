import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/index.js';
import { responseHeadersForClient } from '../proxy/hop-by-hop.js';
import { headerText, headerTokens } from './header-values.js';

export type DocumentKind = 'html' | 'css';
export type ContentCoding = 'identity' | 'gzip' | 'deflate' | 'br';

const CODINGS: Readonly<Record<string, ContentCoding>> = { '': 'identity', identity: 'identity', gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate', br: 'br' };

export interface RewritableDocument {
  readonly kind: DocumentKind;
  readonly coding: ContentCoding;
  /** The `charset` of the Content-Type, if any: how the rewriters read CSS bytes (SPEC §4). */
  readonly charset: string | undefined;
}


/**
 * Charset labels whose bytes are not ASCII where the markup is (WHATWG Encoding standard labels of UTF-16BE/LE,
 * ISO-2022-JP and the "replacement" encoding, plus UTF-32, UCS-4 and UTF-7, which browsers do not decode but
 * which are not ASCII-compatible either): the rewriter reads markup byte-wise, so such a page passes as it is.
 */
const NOT_ASCII_COMPATIBLE = new Set([
  'unicodefffe', 'utf-16be', 'csunicode', 'iso-10646-ucs-2', 'ucs-2', 'unicode', 'unicodefeff', 'utf-16', 'utf-16le',
  'csiso2022jp', 'iso-2022-jp', 'csiso2022kr', 'hz-gb-2312', 'iso-2022-cn', 'iso-2022-cn-ext', 'iso-2022-kr', 'replacement',
]);

function asciiCompatible(charset: string): boolean {
  const label = charset.trim().toLowerCase();
  return !NOT_ASCII_COMPATIBLE.has(label) && !/^(utf-?32|ucs-?4|utf-?7|x-utf-?16|utf-?16)/.test(label);
}

/**
 * SPEC §3/§4: whether an origin response is a document to rewrite: a `200` to a `GET`, `text/html` or
 * `text/css` in an ASCII-compatible charset, a content coding we can decode and re-encode, no `no-transform`,
 * and not announced larger than the limit. A `HEAD` is judged the same way, so that it gets the headers the
 * `GET` would (RFC 9110 §9.3.2).
 */
export function rewritableDocument(method: string | undefined, status: number | undefined, headers: IncomingHttpHeaders, maxBytes: number): RewritableDocument | undefined {
  if ((method !== 'GET' && method !== 'HEAD') || status !== 200) return undefined;
  const [mediaType = '', ...parameters] = headerText(headers['content-type']).toLowerCase().split(';');
  const kind = mediaType.trim() === 'text/html' ? 'html' : mediaType.trim() === 'text/css' ? 'css' : undefined;
  if (!kind) return undefined;
  const charset = parameters.map((p) => p.trim()).find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '').trim() || undefined;
  if (charset && !asciiCompatible(charset)) return undefined;
  if (forbidsTransform(headers)) return undefined;
  const coding = CODINGS[headerText(headers['content-encoding']).toLowerCase()];
  if (!coding) return undefined;
  const length = Number(headers['content-length'] ?? NaN);
  if (Number.isFinite(length) && length > maxBytes) return undefined;
  return { kind, coding, charset };
}

/** Paths whose answer is a page or a stylesheet in all likelihood (the query aside). */
const DOCUMENT_PATH = /(\/|\.(html?|shtml|css|php\d?|aspx?|jsp|cfm))$/i;

/** Paths of media, downloads and other files that are never rewritten: their ranges are always theirs. */
const NEVER_A_DOCUMENT_PATH = /\.(jpe?g|png|gif|webp|avif|svg|ico|bmp|tiff?|mp4|m4[av]|webm|ogg|ogv|mp3|wav|flac|mov|mkv|avi|pdf|zip|gz|tgz|bz2|xz|7z|rar|tar|iso|dmg|exe|msi|apk|bin|woff2?|ttf|otf|js|mjs|json|xml|txt|csv)$/i;

/**
 * Whether a `GET`/`HEAD` may be answered with a rewritten document, judged before the origin answers: the
 * client asks for HTML or CSS by name in its `Accept` (a browser's navigation and stylesheet requests do; its
 * image, media, PDF-viewer and download-resumption requests send `image/…` or `*\/*`), or the path is one of a
 * page or stylesheet (`/`, `.html`, `.htm`, `.css`, `.php`, `.asp`, `.aspx`, `.jsp`, …, for clients that send no
 * such `Accept`). A path with a media, archive or other file extension is never one, whatever its `Accept`.
 *
 * Such a request's `Range`/`If-Range` are not forwarded (SPEC §3: the whole page is rewritten and sent as a
 * `200`, a `206` of the origin's bytes could not be spliced with rewritten ones). Range requests for images,
 * video and downloads pass untouched.
 */
export function mayBeRewrittenDocument(url: string | undefined, accept: string | string[] | undefined): boolean {
  if (neverADocument(url)) return false;
  const path = (url ?? '/').replace(/[?#].*$/s, '');
  const asked = headerTokens(accept).map((t) => t.split(';')[0]!.trim());
  return asked.includes('text/html') || asked.includes('text/css') || DOCUMENT_PATH.test(path);
}

/** Whether the URL's path is one of media, a script, a font, a download…: not a page nor a stylesheet by its name. */
export function neverADocument(url = '/'): boolean {
  const end = url.search(/[?#]/);
  return NEVER_A_DOCUMENT_PATH.test(end === -1 ? url : url.slice(0, end));
}

/** Fields that describe the origin's exact bytes, wrong once the body is rewritten. */
export const ABOUT_THE_BYTES: ReadonlySet<string> = new Set(['content-length', 'content-md5', 'digest', 'content-digest', 'repr-digest', 'accept-ranges']);

/**
 * `<rewrite shared-caches>` (SPEC §3): `vary`, a rewritten document tells shared caches by `Vary: User-Agent`
 * alone that it is one browser's; `private`, by `Cache-Control: private` too, for caches that ignore `Vary`.
 */
export type SharedCaches = Config['rewrite']['sharedCaches'];

/**
 * The response headers of a rewritten document: as the origin sent them, less what described its exact bytes
 * (the length is recomputed by chunking), a strong `ETag` weakened (RFC 9110 §8.8.1: the bytes differ, the
 * meaning does not), and `User-Agent` merged into `Vary` (the marks depend on it, SPEC §2). With
 * `shared-caches="private"` the origin's `Cache-Control` becomes `private` as well (`privateCacheControl`).
 */
export function rewrittenDocumentHeaders(rawHeaders: readonly string[], sharedCaches: SharedCaches): string[] {
  const out: string[] = [];
  let varyAt = -1;
  let varyCovered = false;
  const cacheControl: string[] = [];
  let cacheControlAt = -1;
  const headers = responseHeadersForClient(rawHeaders);
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    let value = headers[i + 1]!;
    const lower = name.toLowerCase();
    if (ABOUT_THE_BYTES.has(lower)) continue;
    if (sharedCaches === 'private' && targetsSharedCaches(lower)) continue;
    if (lower === 'etag' && value.startsWith('"')) value = `W/${value}`;
    if (lower === 'vary') {
      if (varyAt === -1) varyAt = out.length;
      if (/(^|,)\s*(\*|user-agent)\s*(,|$)/i.test(value)) varyCovered = true;
    }
    if (lower === 'cache-control' && sharedCaches === 'private') {
      // Repeated fields are one list (RFC 9110 §5.3): merged into one, where the first stood.
      cacheControl.push(value);
      if (cacheControlAt !== -1) continue;
      cacheControlAt = out.length;
    }
    out.push(name, value);
  }
  if (!varyCovered) {
    if (varyAt === -1) out.push('Vary', 'User-Agent');
    else out[varyAt + 1] = `${out[varyAt + 1]}, User-Agent`;
  }
  if (sharedCaches === 'private') {
    if (cacheControlAt === -1) out.push('Cache-Control', privateCacheControl([]));
    else out[cacheControlAt + 1] = privateCacheControl(cacheControl);
  }
  return out;
}

/**
 * Caching fields aimed at one kind of shared cache, which obeys them instead of `Cache-Control` (RFC 9213
 * `CDN-Cache-Control` and its vendor forms such as `Cloudflare-CDN-Cache-Control`, Fastly's and Varnish's
 * `Surrogate-Control`, Akamai's `Edge-Control`, nginx's `X-Accel-Expires`): such a CDN caches by URL, and would keep
 * one browser's page for everyone whatever `private` says.
 */
function targetsSharedCaches(name: string): boolean {
  return name.endsWith('cdn-cache-control') || name === 'surrogate-control' || name === 'edge-control' || name === 'x-accel-expires';
}

/** A `Cache-Control` field's directives, as written; a comma inside a quoted value does not split. */
function cacheControlDirectives(value: string): string[] {
  return (value.match(/(?:[^,"]|"(?:[^"\\]|\\.)*"?)+/g) ?? []).map((d) => d.trim()).filter((d) => d !== '');
}

/** Directives that let a shared cache keep a response (RFC 9111 §5.2.2.9, §5.2.2.10) or qualify `private`. */
const FOR_SHARED_CACHES = new Set(['public', 's-maxage', 'private']);

/**
 * `shared-caches="private"`: the origin's `Cache-Control` for a rewritten document, made `private` (RFC 9111
 * §5.2.2.7: no shared cache stores it, whether it honours `Vary` or not). What let shared caches keep it goes
 * (`public`, `s-maxage`, a `private="…"` that named only some fields); what the browser's own cache is told
 * stays (`max-age`, `no-cache`, `must-revalidate`, …).
 */
export function privateCacheControl(values: readonly string[]): string {
  const kept = values.flatMap(cacheControlDirectives).filter((d) => !FOR_SHARED_CACHES.has(d.split('=')[0]!.trim().toLowerCase()));
  return ['private', ...kept].join(', ');
}

/**
 * The request headers a response varies by (RFC 9110 §12.5.5), lower-cased, sorted, without repeats; `'*'` when
 * it varies by things no request header shows.
 */
export function varyNames(vary: string | string[] | undefined): readonly string[] | '*' {
  const names = [...new Set(headerTokens(vary))].sort();
  return names.includes('*') ? '*' : names;
}

/** `Cache-Control: no-transform` (RFC 9110 §7.7): a proxy must pass the response as it is. */
export function forbidsTransform(headers: IncomingHttpHeaders): boolean {
  return headerTokens(headers['cache-control']).includes('no-transform');
}

/**
 * A response for one visitor only (RFC 9111 §3, §5.2.2): it sets a cookie, or says `private` or `no-store`. A
 * shared cache never keeps it, nor keeps its headers for the next visitor.
 */
export function personalResponse(headers: IncomingHttpHeaders): boolean {
  if (headers['set-cookie'] !== undefined || headers['set-cookie2'] !== undefined) return true;
  return headerTokens(headers['cache-control']).some((t) => t === 'private' || t === 'no-store' || t.startsWith('private='));
}

/**
 * Whether a rewritten document may be kept for other visitors with the same mark: nothing personal on either
 * side (credentials, cookies, `private`), not `Vary: *` (any other `Vary` is part of the key the document is
 * kept under, see `DocumentCache`), and a validator to revalidate it with (RFC 9111 §3, §4.1, §4.3).
 */
export function keepableDocument(requestHeaders: IncomingHttpHeaders, responseHeaders: IncomingHttpHeaders): boolean {
  if (requestHeaders.authorization !== undefined || requestHeaders.cookie !== undefined) return false;
  if (personalResponse(responseHeaders)) return false;
  if (varyNames(responseHeaders.vary) === '*') return false;
  return responseHeaders.etag !== undefined || responseHeaders['last-modified'] !== undefined;
}

/** Fields a `304` must not replace in a stored response (RFC 9111 §3.2: they describe the stored bytes). */
const KEPT_FROM_STORED = new Set(['content-length', 'content-encoding', 'content-type', 'transfer-encoding', 'content-range']);

/** The stored response's headers updated with those of the `304` that revalidated it (RFC 9111 §4.3.4). */
export function revalidatedHeaders(stored: readonly string[], fresh: readonly string[]): string[] {
  const replaced = new Set<string>();
  for (let i = 0; i < fresh.length; i += 2) {
    const name = fresh[i]!.toLowerCase();
    if (!KEPT_FROM_STORED.has(name)) replaced.add(name);
  }
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) if (!replaced.has(stored[i]!.toLowerCase())) out.push(stored[i]!, stored[i + 1]!);
  for (let i = 0; i < fresh.length; i += 2) if (replaced.has(fresh[i]!.toLowerCase())) out.push(fresh[i]!, fresh[i + 1]!);
  return out;
}

/**
 * Whether the origin's `304` to a conditional `GET` or `HEAD` may stand for a rewritten document, so that it must
 * carry the rewritten page's `ETag` and `Vary` (RFC 9110 §15.4.5: a `304` sends the fields the `200` would). A
 * `304` says nothing of what it confirms, and whoever asks may be a shared cache holding one browser's page: a
 * `304` without `User-Agent` in its `Vary` makes such a cache serve that page to every browser (a Varnish in front
 * gave IE 11 Chrome's marks). So yes for every URL that may name a page (an extensionless `/about` with
 * `Accept: *\/*` and a `Last-Modified` is one), no only for a media, script, font or download path
 * (`neverADocument`) and when the `304` itself says otherwise (`no-transform`, another media type). A `304` for a
 * resource that was never rewritten then only gets a weak tag and one more `Vary` name: a cache keeps it apart per
 * browser, which costs hits, never a wrong answer.
 */
export function notModifiedDocument(url: string | undefined, requestHeaders: IncomingHttpHeaders, responseHeaders: IncomingHttpHeaders): boolean {
  if (requestHeaders['if-none-match'] === undefined && requestHeaders['if-modified-since'] === undefined) return false;
  if (forbidsTransform(responseHeaders)) return false;
  const mediaType = headerText(responseHeaders['content-type']).toLowerCase().split(';')[0]!.trim();
  if (mediaType !== '' && mediaType !== 'text/html' && mediaType !== 'text/css') return false;
  return !neverADocument(url);
}
