import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { isImageBytes, probeImage } from '../../images/probe.js';
import { requestHeadersForOrigin } from '../../proxy/hop-by-hop.js';
import { withForwardedFields } from '../../proxy/forwarded.js';
import type { FetchedResponse } from '../../proxy/origin-fetch.js';
import type { OriginalRecord } from '../../store/records.js';
import { digestOf } from '../../store/digest.js';
import { confirmsStored } from '../confirms.js';
import { cacheDirectives, headerText, headerTokens } from '../header-values.js';
import { deltaSeconds, freshUntil, keptFields, notStorable, staleWhileRevalidateMs } from '../image-headers.js';
import type { ImageSource } from '../image-source.js';
import { requestLogger } from '../request-context.js';
import type { ImageRouteParts } from './parts.js';

/** What fetching (or revalidating) an original came to: kept, to be forwarded, or the origin's own answer. */
export type OriginalOutcome = { readonly record: OriginalRecord } | { readonly forward: string } | { readonly response: FetchedResponse; readonly skip?: string };

/**
 * Client headers that do not go to the origin for an image fetch: its conditionals are answered by us, and the
 * client's negotiation (formats, languages, codings, client hints) must not choose the one original every client
 * is served from (SPEC §5.1: the fetch is neutral). Nor do its cookies: what is stored is served to everyone, so
 * it is fetched as anyone would get it (an image the origin gives only with a login's cookie was stored and then
 * sent to strangers). An image the origin refuses without them goes to the origin with them, unstored (below).
 */
const NOT_FORWARDED = new Set([
  'host',
  'cookie',
  // The fetch is a GET without a body: a client's framing headers would make the origin read the next request on
  // the pooled connection as this one's body (request smuggling into another visitor's image).
  'content-length',
  'transfer-encoding',
  'content-type',
  'expect',
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-charset',
  'dpr',
  'width',
  'viewport-width',
  'device-memory',
  'rtt',
  'downlink',
  'ect',
  'save-data',
]);

/** The formats every client decodes; anything else only if the origin has nothing else (an SVG, an icon). */
export const NEUTRAL_ACCEPT = 'image/jpeg, image/png, image/gif, */*;q=0.1';

function originRequestHeaders(req: IncomingMessage | undefined, source: ImageSource, stored: OriginalRecord | undefined): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  if (req) {
    for (const [name, value] of Object.entries(requestHeadersForOrigin(withForwardedFields(req.headers, req)))) {
      if (!NOT_FORWARDED.has(name) && !name.startsWith('sec-ch-')) headers[name] = value;
    }
  }
  headers.accept = NEUTRAL_ACCEPT;
  if (source.host !== undefined) headers.host = source.host;
  if (stored?.etag) headers['if-none-match'] = stored.etag;
  else if (stored?.lastModified) headers['if-modified-since'] = stored.lastModified;
  return headers;
}

/**
 * Why an origin response that varies may not be kept: its `Vary` names a request field other than `Accept` (which
 * the fetch fixes) and `Accept-Encoding` (which it does not send), so the bytes depend on who asked.
 */
function variesByClient(headers: IncomingHttpHeaders): string | undefined {
  const other = headerTokens(headers.vary).find((name) => name !== 'accept' && name !== 'accept-encoding');
  return other === undefined ? undefined : `Vary: ${other}`;
}

/** Whether a stored original may be served when the origin cannot confirm it: not if it says it must be. */
function mayServeStale(record: OriginalRecord): boolean {
  const directives = cacheDirectives(record.cacheControl);
  return !['no-cache', 'no-store', 'must-revalidate', 'proxy-revalidate'].some((name) => directives.has(name));
}

/** The origin's `Age` (a cache in front of it held the response that long), 0 when absent or not a number. */
function originAge(headers: IncomingHttpHeaders): number {
  return deltaSeconds(headerText(headers.age)) ?? 0;
}

/** Lets go of an origin response not sent to anyone: its hold on the budget, and its stream (and connection). */
export function discard(fetched: FetchedResponse): void {
  fetched.reservation?.release();
  fetched.stream?.destroy();
}

export interface Originals {
  /**
   * Step 2: the original of `source`, from the store while fresh (`freshUntil`), else confirmed or fetched from
   * the origin. Concurrent first requests of one image share one fetch (one download, one body in memory). Only
   * a kept original is shared: an answer that is not kept (`private`, `Set-Cookie`, a 404, …) may be one
   * client's own, so each other request then asks for its own. A failed fetch fails them all.
   */
  original(req: IncomingMessage | undefined, source: ImageSource): Promise<OriginalOutcome>;
}

/** How long an original refused without cookies is believed to need them (see `needCookies`), and how many. */
const NEED_COOKIES_MS = 60_000;
const NEED_COOKIES_KEPT = 10_000;

export function createOriginals(parts: ImageRouteParts): Originals {
  const { store, fetcher, limits, logger, metrics } = parts;
  /** Fetches (or revalidations) of originals under way, by store key. */
  const inFlight = new Map<string, Promise<OriginalOutcome>>();
  /** Revalidations of stale originals served meanwhile (`stale-while-revalidate`), by store key. */
  const revalidating = new Set<string>();
  /**
   * Originals the origin gave no shareable image for without a visitor's cookies, until when that answer is
   * believed: a request with cookies for one goes to the origin with them at once, instead of asking without them
   * first every time (two origin requests for each view of a private image). Oldest first out, bounded.
   */
  const needCookies = new Map<string, number>();
  const onlyWithCookies = (key: string, reason: string): OriginalOutcome => {
    needCookies.delete(key);
    needCookies.set(key, Date.now() + NEED_COOKIES_MS);
    if (needCookies.size > NEED_COOKIES_KEPT) needCookies.delete(needCookies.keys().next().value!);
    return { forward: reason };
  };

  async function original(req: IncomingMessage | undefined, source: ImageSource): Promise<OriginalOutcome> {
    const pending = inFlight.get(source.key);
    if (pending) {
      metrics.sharedFetches.inc();
      const shared = await pending;
      if ('record' in shared) return shared;
      return fetchOriginal(req, source);
    }
    const own = fetchOriginal(req, source);
    inFlight.set(source.key, own);
    const settled = () => {
      if (inFlight.get(source.key) === own) inFlight.delete(source.key);
    };
    own.then(settled, settled);
    return own;
  }

  /** Confirms (or refetches) a stored original in the background; one at a time per original. */
  function revalidateInBackground(source: ImageSource): void {
    if (revalidating.has(source.key)) return;
    revalidating.add(source.key);
    fetchOriginal(undefined, source, false)
      .then(async (outcome) => {
        if ('record' in outcome) return;
        if ('response' in outcome) discard(outcome.response);
        // The origin no longer gives the image as it was (a 404, `private`, a `Vary` on the client): what is
        // stored is not served unconfirmed again; the next request asks the origin and gets its answer.
        const stored = store.getOriginal(source.key);
        if (stored && stored.validatedAt > 0) await store.touchOriginal({ ...stored, validatedAt: 0 });
      })
      .catch((err: Error) => logger.warn({ image: source.key, cause: 'origin', error: err.message }, 'background revalidation failed: the stored image is served until it is stale beyond what the origin allows'))
      .finally(() => revalidating.delete(source.key));
  }

  /**
   * The original as stored, confirmed or fetched from the origin when it is not fresh; when the origin allows it
   * (`stale-while-revalidate`) a stale one is served and confirmed meanwhile (`mayServeStaleNow`).
   */
  async function fetchOriginal(req: IncomingMessage | undefined, source: ImageSource, mayServeStaleNow = true): Promise<OriginalOutcome> {
    const key = source.key;
    let record = store.getOriginal(key);
    const freshEnd = record ? freshUntil(record, parts) : 0;
    const now = Date.now();
    if (record && now < freshEnd) return { record };
    if (record && mayServeStaleNow && now < freshEnd + staleWhileRevalidateMs(record)) {
      revalidateInBackground(source);
      return { record };
    }
    if (req?.headers.cookie !== undefined && (needCookies.get(key) ?? 0) > now) {
      return { forward: "the origin gave no shareable image without the visitor's cookies a moment ago: passed through with them, not stored" };
    }
    let fetched: FetchedResponse;
    try {
      fetched = await fetcher.fetch(source.path, originRequestHeaders(req, source, record), parts.maxOriginalBytes, parts.budget);
    } catch (err) {
      // The origin cannot be reached to revalidate: what it last confirmed is served (RFC 9111 §4.2.4, as a
      // disconnected cache may), unless it asked never to be served unconfirmed.
      if (!record || !mayServeStale(record)) throw err;
      requestLogger(logger, req).warn({ image: key, cause: 'origin', error: (err as Error).message }, 'origin unreachable: the stored image is served without revalidation');
      metrics.imageResponses.inc({ outcome: 'stale' });
      return { record };
    }
    if (fetched.status === 304 && record && !confirmsStored(record.etag, fetched.headers)) {
      // The origin's 304 names bytes other than the stored ones (RFC 9111 §4.3.4: a strong validator no stored
      // response has updates none of them, and the stored one is not used): the original is asked for in full. If
      // that fails, so does the request, as a first fetch's would: the stored bytes are no longer the origin's.
      requestLogger(logger, req).warn({ image: key, cause: 'origin', stored: record.etag ?? null, confirmed: headerText(fetched.headers.etag) }, "origin's 304 names another ETag than the stored original's: fetched in full");
      discard(fetched);
      record = undefined;
      fetched = await fetcher.fetch(source.path, originRequestHeaders(req, source, undefined), parts.maxOriginalBytes, parts.budget);
    }
    const answered = Date.now();
    if (fetched.status === 304 && record) {
      // The 304's fields replace the stored ones (RFC 9111 §4.3.4): a new Expires, a lifetime, or a `private` /
      // `no-store` that ends the keeping (the original is then asked for in full next time, and passed through).
      const cacheControl = headerText(fetched.headers['cache-control']) || record.cacheControl;
      const expires = headerText(fetched.headers.expires) || record.expires;
      const fields = keptFields(fetched.headers) ?? record.fields;
      const refused = notStorable({}, 200, { 'cache-control': cacheControl });
      record = { ...record, validatedAt: refused ? 0 : answered, age: originAge(fetched.headers), ...(cacheControl ? { cacheControl } : {}), ...(expires ? { expires } : {}), ...(fields ? { fields } : {}) };
      // Not written (the store reported why): the bytes stored are still the ones the origin just confirmed.
      await store.touchOriginal(record);
      if (refused) return { forward: `origin now says ${refused}` };
      return { record };
    }
    if (!fetched.body) {
      metrics.unbuffered.inc({ what: fetched.unbuffered ?? 'too-large' });
      const why = fetched.unbuffered === 'over-budget' ? 'too many image bytes in memory now (max-buffered)' : 'original larger than the store takes';
      return { response: fetched, skip: `${why}: streamed through, not stored` };
    }
    if (notStorable(req?.headers ?? {}, fetched.status, fetched.headers) || variesByClient(fetched.headers)) {
      if (req?.headers.cookie === undefined) return { response: fetched };
      // Fetched without the visitor's cookies, the image is not one to share (a 403, a redirect to a login page, a
      // 404 for strangers, `private`): the visitor's own request goes to the origin with them, and nothing is kept.
      discard(fetched);
      return onlyWithCookies(key, `the origin gives no shareable image without the visitor's cookies (${fetched.status}): passed through with them, not stored`);
    }
    // Only image bytes are kept (SPEC §8): anything else under an image URL is the origin's to send each time.
    if (!isImageBytes(fetched.body)) {
      if (req?.headers.cookie === undefined) return { response: fetched, skip: 'not an image (by its first bytes): passed through, not stored' };
      // A login page with a 200 under the image's URL, say: the visitor's cookies may get the image itself.
      discard(fetched);
      return onlyWithCookies(key, "not an image without the visitor's cookies (by its first bytes): passed through with them, not stored");
    }
    // Hashed off the event loop: the body comes back from the digest thread, and is used from here on.
    const { digest, bytes: body } = await digestOf(fetched.body);
    fetched = { ...fetched, body };
    const probe = await probeImage(body, limits);
    const fields = keptFields(fetched.headers);
    record = {
      url: key,
      digest,
      size: body.length,
      contentType: String(fetched.headers['content-type'] ?? 'application/octet-stream'),
      ...(fetched.headers.etag ? { etag: fetched.headers.etag } : {}),
      ...(fetched.headers['last-modified'] ? { lastModified: fetched.headers['last-modified'] } : {}),
      ...(fetched.headers['cache-control'] ? { cacheControl: String(fetched.headers['cache-control']) } : {}),
      // Even empty: an Expires that is no date means already expired (RFC 9111 §5.3).
      ...(fetched.headers.expires !== undefined ? { expires: String(fetched.headers.expires) } : {}),
      ...(fields ? { fields } : {}),
      validatedAt: answered,
      age: originAge(fetched.headers),
      ...(probe.ok ? { facts: probe.facts } : { skip: probe.reason }),
    };
    if (!(await store.putOriginal(record, body))) return { response: fetched, skip: 'not stored: the store cannot write now (see the log): passed through' };
    // Stored: whoever sends it reads it back under its own hold on the budget.
    fetched.reservation?.release();
    return { record };
  }

  return { original };
}
