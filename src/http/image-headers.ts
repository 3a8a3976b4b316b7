import type { IncomingHttpHeaders } from 'node:http';
import type { OriginalRecord, VariantRecord } from '../store/records.js';
import { cacheDirectives, headerText, passedHeaderValue } from './header-values.js';

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

export interface Freshness {
  /** `<interval-caching seconds>`, 0 when off: wins over what the origin says. */
  readonly intervalSeconds: number;
  /** `<origin heuristic-max-age>`: the cap of heuristic freshness; 0 turns it off. */
  readonly heuristicMaxAgeSeconds: number;
}

/** RFC 9111 §4.2.2's "typical setting": a tenth of the time since the original was last modified. */
const HEURISTIC_FRACTION = 0.1;

/**
 * Until when a stored original may be used without asking the origin (ms since the epoch): the interval when one
 * is set, else the origin's explicit lifetime (RFC 9111 §4.2.1), else, for an original with `Last-Modified` and no
 * `no-cache`, a heuristic lifetime (§4.2.2) capped by `heuristicMaxAgeSeconds`; otherwise none (asked every time).
 */
export function freshUntil(original: OriginalRecord, freshness: Freshness): number {
  if (freshness.intervalSeconds > 0) return original.validatedAt + freshness.intervalSeconds * 1000;
  const cc = cacheDirectives(original.cacheControl);
  if (cc.has('no-cache')) return original.validatedAt;
  // The age the bytes already had when confirmed (a cache in front of the origin), RFC 9111 §4.2.3.
  const born = original.validatedAt - (original.age ?? 0) * 1000;
  const lifetime = cc.has('s-maxage') ? cc.get('s-maxage') : cc.get('max-age');
  if (lifetime !== undefined) {
    // An invalid lifetime is stale (RFC 9111 §4.2.1), not a reason to guess one.
    const seconds = deltaSeconds(lifetime);
    return seconds === undefined ? original.validatedAt : born + seconds * 1000;
  }
  // An `Expires` that is not an HTTP-date means "already expired" (RFC 9111 §5.3), never "use the heuristic"
  // (`Date.parse` alone would read "0" as the year 2000).
  if (original.expires !== undefined) {
    const expires = httpDate(original.expires);
    return Number.isFinite(expires) ? expires : original.validatedAt;
  }
  const lastModified = httpDate(original.lastModified ?? '', original.validatedAt);
  if (!Number.isFinite(lastModified) || lastModified >= original.validatedAt) return original.validatedAt;
  const heuristic = Math.min((original.validatedAt - lastModified) * HEURISTIC_FRACTION, freshness.heuristicMaxAgeSeconds * 1000);
  return born + Math.floor(heuristic);
}

/**
 * How long after `freshUntil` the origin lets a stale original be served while it is revalidated in the
 * background (its `stale-while-revalidate`, RFC 5861), ms; 0 when it does not.
 */
export function staleWhileRevalidateMs(original: OriginalRecord): number {
  const cc = cacheDirectives(original.cacheControl);
  if (cc.has('no-cache') || cc.has('must-revalidate') || cc.has('proxy-revalidate')) return 0;
  return (deltaSeconds(cc.get('stale-while-revalidate')) ?? 0) * 1000;
}

/** RFC 9111 §1.2.2: a delta-seconds too large to represent is taken as this. */
const MAX_DELTA_SECONDS = 2_147_483_648;

/** A delta-seconds value (RFC 9111 §1.2.2), or `undefined` when absent or not one. */
export function deltaSeconds(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Math.min(Number(value), MAX_DELTA_SECONDS) : undefined;
}

/** The origin's directives a final image keeps as they are (SPEC §5.5): how long, and what caches may do then. */
const KEPT_DIRECTIVES = ['max-age', 's-maxage', 'no-cache', 'must-revalidate', 'proxy-revalidate', 'immutable', 'stale-while-revalidate', 'stale-if-error'];

export interface ImageLifetime {
  /** All experiments for the image and mark have run: the bytes will not change while the original does not. */
  readonly final: boolean;
  /** Answered for an unmarked URL by its `Accept` (SPEC §7): never for shared caches. */
  readonly inPlace: boolean;
  /** `<interval-caching seconds>`, 0 when off. */
  readonly intervalSeconds: number;
  /** `<image-compression interim-max-age>`: how long a response before final may be reused; 0 = `no-cache`. */
  readonly interimSeconds: number;
}

/**
 * How old the answers made from a stored original are (RFC 9111 §4.2.3), seconds: the time since the origin last
 * confirmed its bytes, plus the age they already had then (the origin's `Age`: a cache in front of it). Every
 * answer made from the original says so in `Age` (§5.1), whatever it sends (a variant, the original, a skipped
 * one), or a cache downstream would count the origin's lifetime afresh from its copy. `undefined` when the
 * origin's confirmation was withdrawn (`validatedAt` 0: served only when the origin cannot be reached).
 */
export function ageOf(original: OriginalRecord, now: number): number | undefined {
  if (original.validatedAt <= 0) return undefined;
  return Math.max(0, Math.floor((now - original.validatedAt) / 1000)) + (original.age ?? 0);
}

/**
 * The lifetime the origin gave its response for a browser (RFC 9111 §4.2.1), seconds counted from its age 0 as
 * `ageOf` counts: `max-age` (`s-maxage` is for shared caches), else `Expires`; 0 when it says to revalidate every
 * time or gives a lifetime that is no lifetime (already expired, §5.3); `undefined` when it gives none.
 */
function originLifetime(original: OriginalRecord): number | undefined {
  const cc = cacheDirectives(original.cacheControl);
  if (cc.has('no-cache') || cc.has('no-store')) return 0;
  if (cc.has('max-age')) return deltaSeconds(cc.get('max-age')) ?? 0;
  if (original.expires === undefined) return undefined;
  const expires = httpDate(original.expires);
  const born = original.validatedAt - (original.age ?? 0) * 1000;
  return Number.isFinite(expires) ? Math.max(0, Math.floor((expires - born) / 1000)) : 0;
}

/**
 * SPEC §5.5 and §7. Before final: `private, no-transform` with an explicit short lifetime (or `no-cache`), so that
 * no browser keeps the interim bytes heuristically (RFC 9111 §4.2.2: a share of the time since `Last-Modified`,
 * months for an old image) after a better variant exists. Final: `public, no-transform` (`private` in place) with
 * the origin's lifetime and directives, or the interval's. Either goes out with the `Age` of `ageOf` (at `now`).
 */
export function imageCacheControl(original: OriginalRecord, lifetime: ImageLifetime, now = Date.now()): string {
  const scope = lifetime.inPlace ? 'private, no-transform' : 'public, no-transform';
  const cc = cacheDirectives(original.cacheControl);
  if (!lifetime.final) {
    // What is left is `max-age` − `Age` (RFC 9111 §4.2.3): `interimSeconds` from now, never more than the origin's
    // own lifetime leaves (an `Expires` already past, an `Age` near its `max-age`, `no-cache`: revalidate every time).
    const age = ageOf(original, now);
    const left = age === undefined ? 0 : Math.min(lifetime.interimSeconds, (originLifetime(original) ?? Infinity) - age);
    return `private, no-transform, ${age !== undefined && left > 0 ? `max-age=${age + left}` : 'no-cache'}`;
  }
  if (lifetime.intervalSeconds > 0) {
    const seconds = lifetime.intervalSeconds;
    return lifetime.inPlace ? `${scope}, max-age=${seconds}` : `${scope}, max-age=${seconds}, s-maxage=${seconds}`;
  }
  const parts = [scope];
  for (const name of KEPT_DIRECTIVES) {
    if (!cc.has(name) || (lifetime.inPlace && (name === 's-maxage' || name === 'proxy-revalidate'))) continue;
    const value = cc.get(name) ?? '';
    // Delta-seconds only (RFC 9111 §1.2.2): a value that is not one is left out rather than passed on.
    if (value === '') parts.push(name);
    else if (/^\d{1,10}$/.test(value)) parts.push(`${name}=${value}`);
  }
  return parts.join(', ');
}

/**
 * An ETag naming the bytes sent (never the origin's tag on other bytes); bytes stored with a content coding
 * (ZorroSVG, gzip) are two representations, with a tag each.
 */
export function imageEtag(digest: string, coding?: 'gzip' | 'identity'): string {
  return `"sp-${digest.slice(0, 24)}${coding === undefined ? '' : `-${coding}`}"`;
}

/** `If-None-Match` against one tag, weak comparison (RFC 9110 §13.1.2). */
export function etagMatches(ifNoneMatch: string | string[] | undefined, etag: string): boolean {
  const value = headerText(ifNoneMatch);
  if (value === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return value.split(',').some((tag) => tag.trim().replace(/^W\//, '') === bare);
}

/**
 * The `Last-Modified` of what is sent: the original's, or for a variant the time it was made if that is later
 * (the bytes at this URL changed then), so that an `If-Modified-Since` from before never keeps a client on older
 * bytes. At one-second precision, as HTTP dates are.
 */
export function representationLastModified(original: OriginalRecord, variant: VariantRecord | undefined): string | undefined {
  const originalTime = original.lastModified ? Date.parse(original.lastModified) : NaN;
  if (!variant) return Number.isFinite(originalTime) ? original.lastModified : undefined;
  const made = Math.floor(variant.createdAt / 1000) * 1000;
  return new Date(Number.isFinite(originalTime) ? Math.max(originalTime, made) : made).toUTCString();
}

/** IMF-fixdate, RFC 850 and asctime forms (RFC 9110 §5.6.7). */
const HTTP_DATE = /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/**
 * A valid HTTP-date in ms, else NaN; one later than `notAfter` counts as none (for `If-Modified-Since`, RFC 9110
 * §13.1.3: a client cannot have bytes from the future, and such a date would keep it on what it has for good).
 */
function httpDate(text: string, notAfter = Infinity): number {
  if (!HTTP_DATE.test(text)) return NaN;
  const time = Date.parse(text);
  return time <= notAfter ? time : NaN;
}

/**
 * RFC 9110 §13.2.2 for a GET or HEAD: `If-None-Match` decides when present; only without it does
 * `If-Modified-Since` (a valid date) count, against `Last-Modified`. True: answer `304`.
 */
export function notModified(request: IncomingHttpHeaders, etag: string | undefined, lastModified: string | undefined, now = Date.now()): boolean {
  if (request['if-none-match'] !== undefined) return etag !== undefined && etagMatches(request['if-none-match'], etag);
  const since = httpDate(headerText(request['if-modified-since']), now);
  const modified = lastModified === undefined ? NaN : Date.parse(lastModified);
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}

/** `X-Slimproxy-Image`: what the response is (SPEC §5.5). */
export function imageDescription(original: OriginalRecord, variant: VariantRecord | undefined): string {
  if (!variant) return `experiment=original; format=${original.facts?.type ?? 'unknown'}; original=${original.size}; size=${original.size}`;
  const quality = variant.quality === undefined ? '' : `; quality=${variant.quality}`;
  const operations = variant.operations ? `operations=${variant.operations}; ` : '';
  return `${operations}experiment=${variant.experiment}; format=${variant.format}${quality}; dssim=${variant.dssim.toFixed(5)}; original=${original.size}; size=${variant.size}`;
}

/**
 * The origin's response fields that say what a page may do with the image, not what its bytes are: CORS, Timing,
 * resource and content security policies, how to save it. Kept with the original and sent with every version of
 * it: a site that protects an uploaded SVG with a sandboxing CSP, or lets another origin draw its images on a
 * canvas, gets the same from slimproxy.
 */
const KEPT_FIELDS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'timing-allow-origin',
  'cross-origin-resource-policy',
  'content-security-policy',
  'content-security-policy-report-only',
  'content-disposition',
  'x-content-type-options',
];

/** The fields of `KEPT_FIELDS` an origin response has, each as the origin sent it if it can be written (never a header injection). */
export function keptFields(headers: IncomingHttpHeaders): Record<string, string> | undefined {
  const kept: Record<string, string> = {};
  for (const name of KEPT_FIELDS) {
    const value = headers[name];
    if (value === undefined) continue;
    const text = passedHeaderValue(name, headerText(value));
    if (text !== undefined && text !== '') kept[name] = text;
  }
  return Object.keys(kept).length > 0 ? kept : undefined;
}

