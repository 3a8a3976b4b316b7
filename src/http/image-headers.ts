import type { IncomingHttpHeaders } from 'node:http';
import type { OriginalRecord, VariantRecord } from '../store/records.js';
import { cacheDirectives, headerText } from './header-values.js';

/**
 * SPEC §5.2: why an origin response may not be kept (and is passed through unmodified), or `undefined`.
 * `no-cache` and `max-age=0` are fine: they only mean "revalidate every time".
 */
export function notStorable(requestHeaders: IncomingHttpHeaders, status: number, headers: IncomingHttpHeaders): string | undefined {
  if (requestHeaders.authorization !== undefined) return 'request with Authorization';
  if (status !== 200) return `status ${status}`;
  const cc = cacheDirectives(headers['cache-control']);
  if (cc.has('private')) return 'Cache-Control: private';
  if (cc.has('no-store')) return 'Cache-Control: no-store';
  if (headers['set-cookie'] !== undefined) return 'Set-Cookie';
  return undefined;
}

/** Until when a stored original may be used without asking the origin (ms since the epoch). */
export function freshUntil(original: OriginalRecord, intervalSeconds: number): number {
  if (intervalSeconds > 0) return original.validatedAt + intervalSeconds * 1000;
  const cc = cacheDirectives(original.cacheControl);
  if (cc.has('no-cache')) return original.validatedAt;
  const maxAge = Number(cc.get('s-maxage') ?? cc.get('max-age') ?? NaN);
  if (Number.isFinite(maxAge)) return original.validatedAt + maxAge * 1000;
  const expires = original.expires ? Date.parse(original.expires) : NaN;
  if (Number.isFinite(expires)) return expires;
  // No freshness information: revalidate every time (a conditional request is cheap; serving stale is not).
  return original.validatedAt;
}

/**
 * SPEC §5.5: `private, no-transform` while experiments remain (the bytes will change); once all have run,
 * `public, no-transform` with the origin's lifetime, or the interval's.
 */
export function imageCacheControl(final: boolean, original: OriginalRecord, intervalSeconds: number): string {
  if (!final) return 'private, no-transform';
  if (intervalSeconds > 0) return `public, no-transform, max-age=${intervalSeconds}, s-maxage=${intervalSeconds}`;
  const cc = cacheDirectives(original.cacheControl);
  const parts = ['public', 'no-transform'];
  if (cc.has('max-age')) parts.push(`max-age=${cc.get('max-age')}`);
  if (cc.has('s-maxage')) parts.push(`s-maxage=${cc.get('s-maxage')}`);
  if (cc.has('no-cache')) parts.push('no-cache');
  return parts.join(', ');
}

/** An ETag naming the bytes sent (never the origin's tag on other bytes). */
export function imageEtag(digest: string): string {
  return `"sp-${digest.slice(0, 24)}"`;
}

/** `If-None-Match` against one tag, weak comparison (RFC 9110 §13.1.2). */
export function etagMatches(ifNoneMatch: string | string[] | undefined, etag: string): boolean {
  const value = headerText(ifNoneMatch);
  if (value === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return value.split(',').some((tag) => tag.trim().replace(/^W\//, '') === bare);
}

/** `X-Slimproxy-Image`: what the response is (SPEC §5.5). */
export function imageDescription(original: OriginalRecord, variant: VariantRecord | undefined): string {
  if (!variant) return `experiment=original; format=${original.facts?.type ?? 'unknown'}; original=${original.size}; size=${original.size}`;
  const quality = variant.quality === undefined ? '' : `; quality=${variant.quality}`;
  const operations = variant.operations ? `operations=${variant.operations}; ` : '';
  return `${operations}experiment=${variant.experiment}; format=${variant.format}${quality}; dssim=${variant.dssim.toFixed(5)}; original=${original.size}; size=${variant.size}`;
}
