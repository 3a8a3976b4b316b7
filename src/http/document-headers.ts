import type { IncomingHttpHeaders } from 'node:http';
import { responseHeadersForClient } from '../proxy/hop-by-hop.js';
import { headerText, headerTokens } from './header-values.js';

export type DocumentKind = 'html' | 'css';
export type ContentCoding = 'identity' | 'gzip' | 'deflate' | 'br';

const CODINGS: Readonly<Record<string, ContentCoding>> = { '': 'identity', identity: 'identity', gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate', br: 'br' };

export interface RewritableDocument {
  readonly kind: DocumentKind;
  readonly coding: ContentCoding;
}


/**
 * SPEC §3/§4: whether an origin response is a document to rewrite: a `200` to a `GET`, `text/html` or
 * `text/css` in an ASCII-compatible charset, a content coding we can decode and re-encode, no `no-transform`,
 * and not announced larger than the limit.
 */
export function rewritableDocument(method: string | undefined, status: number | undefined, headers: IncomingHttpHeaders, maxBytes: number): RewritableDocument | undefined {
  if (method !== 'GET' || status !== 200) return undefined;
  const [mediaType = '', ...parameters] = headerText(headers['content-type']).toLowerCase().split(';');
  const kind = mediaType.trim() === 'text/html' ? 'html' : mediaType.trim() === 'text/css' ? 'css' : undefined;
  if (!kind) return undefined;
  const charset = parameters.map((p) => p.trim()).find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (charset && /^(utf-?16|utf-?32|ucs-?2|ucs-?4)/.test(charset)) return undefined;
  if (/(^|,)\s*no-transform\s*(,|$)/i.test(headerText(headers['cache-control']))) return undefined;
  const coding = CODINGS[headerText(headers['content-encoding']).toLowerCase()];
  if (!coding) return undefined;
  const length = Number(headers['content-length'] ?? NaN);
  if (Number.isFinite(length) && length > maxBytes) return undefined;
  return { kind, coding };
}

/** Fields that describe the origin's exact bytes, wrong once the body is rewritten. */
const ABOUT_THE_BYTES = new Set(['content-length', 'content-md5', 'digest', 'content-digest', 'repr-digest', 'accept-ranges']);

/**
 * The response headers of a rewritten document: as the origin sent them, less what described its exact bytes
 * (the length is recomputed by chunking), a strong `ETag` weakened (RFC 9110 §8.8.1: the bytes differ, the
 * meaning does not), and `User-Agent` merged into `Vary` (the marks depend on it, SPEC §2).
 */
export function rewrittenDocumentHeaders(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  let varyAt = -1;
  let varyCovered = false;
  const headers = responseHeadersForClient(rawHeaders);
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    let value = headers[i + 1]!;
    const lower = name.toLowerCase();
    if (ABOUT_THE_BYTES.has(lower)) continue;
    if (lower === 'etag' && value.startsWith('"')) value = `W/${value}`;
    if (lower === 'vary') {
      if (varyAt === -1) varyAt = out.length;
      if (/(^|,)\s*(\*|user-agent)\s*(,|$)/i.test(value)) varyCovered = true;
    }
    out.push(name, value);
  }
  if (!varyCovered) {
    if (varyAt === -1) out.push('Vary', 'User-Agent');
    else out[varyAt + 1] = `${out[varyAt + 1]}, User-Agent`;
  }
  return out;
}


/**
 * Whether a rewritten document may be kept for other visitors with the same mark: nothing personal on either
 * side (credentials, cookies, `private`), nothing it varies on beyond what the cache key holds (coding, mark),
 * and a validator to revalidate it with (RFC 9111 §3, §4.3).
 */
export function keepableDocument(requestHeaders: IncomingHttpHeaders, responseHeaders: IncomingHttpHeaders): boolean {
  if (requestHeaders.authorization !== undefined || requestHeaders.cookie !== undefined) return false;
  if (responseHeaders['set-cookie'] !== undefined) return false;
  if (headerTokens(responseHeaders['cache-control']).some((t) => t === 'private' || t === 'no-store' || t.startsWith('private='))) return false;
  if (!headerTokens(responseHeaders.vary).every((t) => t === 'accept-encoding' || t === 'user-agent')) return false;
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
 * A `304` that answers a client's `If-None-Match: W/"x"` — the weak tag we gave a rewritten document — keeps it
 * weak: the origin's strong `"x"` names the origin's bytes, not the rewritten ones the client holds.
 */
export function notModifiedHeaders(ifNoneMatch: string | string[] | undefined, rawHeaders: readonly string[]): string[] {
  const asked = headerText(ifNoneMatch);
  const headers = responseHeadersForClient(rawHeaders);
  for (let i = 0; i < headers.length; i += 2) {
    const value = headers[i + 1]!;
    if (headers[i]!.toLowerCase() === 'etag' && value.startsWith('"') && asked.includes(`W/${value}`)) headers[i + 1] = `W/${value}`;
  }
  return headers;
}
