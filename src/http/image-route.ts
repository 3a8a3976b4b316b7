import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { finished, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import type { Capabilities } from '../client/index.js';
import type { EngineSettings, ExperimentName, KnownSizes } from '../images/experiment.js';
import { wireSize } from '../images/experiment.js';
import type { ExperimentPool } from '../images/experiment-pool.js';
import { EXPERIMENTS, planForFacts, servableExperiments } from '../images/plan.js';
import { isImageBytes, probeImage, type ProbeLimits, sniffImageType } from '../images/probe.js';
import type { MemoryBudget, Reservation } from './memory-budget.js';
import { capabilitiesOfMark, type DecodedMark } from '../marks/index.js';
import { type Logger, logFailure } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { ExperimentQueue } from '../optimizer/experiment-queue.js';
import { requestHeadersForOrigin, responseHeadersForClient } from '../proxy/hop-by-hop.js';
import type { FetchedResponse, OriginFetcher } from '../proxy/origin-fetch.js';
import { type ImageStore, type LentBytes, ownBytes, sha256, type StoredVariant } from '../store/image-store.js';
import { endWithLent } from './lent-body.js';
import type { OriginalRecord, VariantRecord } from '../store/records.js';
import type { ClusterView, SharedImages } from '../cluster/shared-images.js';
import { settingsDigest } from '../images/settings.js';
import type { FallbackImage } from './fallback-image.js';
import { createImageApiRoute } from './image-api-route.js';
import { storedVariant } from './stored-variant.js';
import { allowedByMark } from './mark-promise.js';
import { type HostMode, type ImageSource, imageSource, sourceOfKey } from './image-source.js';
import { withForwardedFields } from '../proxy/forwarded.js';
import { freshUntil, imageCacheControl, keptFields, imageDescription, imageEtag, notModified, notStorable, representationLastModified } from './image-headers.js';
import { acceptsGzip, cacheDirectives, headerText, headerTokens, safeHeaderValue, safeHeaders } from './header-values.js';
import { requestLogger } from './request-context.js';
import { digestOf } from '../store/digest.js';
import { CONVERSION_WAIT_MS, settledWithin } from './wait-at-most.js';
import type { FailureCause } from './request-log.js';

export interface ImageRouteParts {
  readonly store: ImageStore;
  readonly queue: ExperimentQueue;
  readonly pool: ExperimentPool;
  readonly fetcher: OriginFetcher;
  readonly settings: EngineSettings;
  readonly limits: ProbeLimits;
  readonly intervalSeconds: number;
  /** `<image-compression interim-max-age>`: the lifetime of a response before final (0: `no-cache`). */
  readonly interimSeconds: number;
  /** `<origin host>`: with `client`, the client's `Host` goes to the origin and is part of the store key. */
  readonly hostMode: HostMode;
  /** Originals larger than this are passed through, not kept. */
  readonly maxOriginalBytes: number;
  /** `<limits max-buffered>`: image bodies held in memory at once, over all requests. */
  readonly budget: MemoryBudget;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** `<fallback-image>`: sent in place of the origin's 404. */
  readonly fallback?: FallbackImage;
  /** `<cluster>`: what the instances share through Redis, and how long an experiment's lease lasts unrenewed. */
  readonly shared?: SharedImages;
  readonly leaseMs?: number;
}

/** How the route answered: itself (bytes sent), or by handing the request back to be forwarded as it is. */
export type ImageAnswer =
  | { readonly kind: 'answered'; readonly bytes: number; readonly error?: string; readonly cause?: FailureCause }
  | { readonly kind: 'forward'; readonly reason: string };

/**
 * Client headers that do not go to the origin for an image fetch: its conditionals are answered by us, and the
 * client's negotiation (formats, languages, codings, client hints) must not choose the one original every client
 * is served from (SPEC §5.1: the fetch is neutral).
 */
const NOT_FORWARDED = new Set([
  'host',
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

/** The most a gzip-coded variant (a ZorroSVG) may inflate to: the SVG of a 50 MP image's JPEG and mask is far less. */
const MAX_INFLATED_SVG = 256 * 2 ** 20;

/**
 * The media type of bytes by what they are where their first bytes say (a `Content-Type` or a record may lie),
 * else as declared; gzip-coded bytes are the proxy's ZorroSVG (checked once, when they come from elsewhere:
 * `inflatesToSvg`).
 */
function bytesType(declared: { readonly contentType: string; readonly contentEncoding?: 'gzip' }, bytes: Buffer): string {
  if (declared.contentEncoding === 'gzip') return 'image/svg+xml';
  const sniffed = sniffImageType(bytes);
  return sniffed === undefined ? declared.contentType : sniffed === 'svg' ? 'image/svg+xml' : `image/${sniffed}`;
}

/**
 * Whether gzip-coded bytes inflate (within a bound) to an SVG: a record saying "gzip" must not carry a WebP to a
 * browser that has only ZorroSVG.
 */
function inflatesToSvg(bytes: Buffer): boolean {
  try {
    return sniffImageType(gunzipSync(bytes, { maxOutputLength: MAX_INFLATED_SVG })) === 'svg';
  } catch {
    return false;
  }
}

/** Whether a stored original may be served when the origin cannot confirm it: not if it says it must be. */
function mayServeStale(record: OriginalRecord): boolean {
  const directives = cacheDirectives(record.cacheControl);
  return !['no-cache', 'no-store', 'must-revalidate', 'proxy-revalidate'].some((name) => directives.has(name));
}

/** Lets go of an origin response not sent to anyone: its hold on the budget, and its stream (and connection). */
function discard(fetched: FetchedResponse): void {
  fetched.reservation?.release();
  fetched.stream?.destroy();
}

/**
 * Streams an unbuffered origin body to the client with backpressure, and says how many bytes went. A client
 * that goes away ends the origin's stream too; an origin that breaks off cuts the response (never passed off
 * as whole).
 */
async function streamTo(res: ServerResponse, body: Readable): Promise<ImageAnswer> {
  let sent = 0;
  let originFailed = false;
  body.on('data', (chunk: Buffer) => (sent += chunk.length));
  body.once('error', () => (originFailed = !res.destroyed));
  try {
    await pipeline(body, res);
    return { kind: 'answered', bytes: sent };
  } catch (err) {
    res.destroy();
    return { kind: 'answered', bytes: sent, error: (err as Error).message, cause: originFailed ? 'origin' : 'client' };
  }
}


/**
 * SPEC §5: a marked image is answered from the store with the best version found so far, and its next
 * experiment is queued. The original is fetched or revalidated as the origin's freshness says; what cannot be
 * kept or improved goes through as it is.
 */
/** Marks a progress record names at most: browsers of a few generations, crawlers. */
const MARKS_KEPT = 8;

/** The slot of a conversion for marks that allow none of the original's format (see `decodableVariant`). */
const CONVERTED_SLOT = 'converted';

export function createImageRoute(parts: ImageRouteParts) {
  const { store, queue, pool, fetcher, settings, limits, logger, metrics, shared } = parts;
  /** Outcomes are reused only under the settings they were made with: their digest, as the cluster's key space. */
  const settingsKey = settingsDigest(settings);
  const observe = () => {
    metrics.queueLength.set({ state: 'waiting' }, queue.queued);
    metrics.queueLength.set({ state: 'running' }, queue.running);
    metrics.storeBytes.set(store.size);
  };

  /** Fetches (or revalidations) of originals under way, by store key. */
  const inFlight = new Map<string, Promise<OriginalOutcome>>();

  /**
   * The original of `source`: concurrent first requests of one image share one fetch (one download, one body in
   * memory). Only a kept original is shared: an answer that is not kept (`private`, `Set-Cookie`, a 404, …) may
   * be one client's own, so each other request then asks for its own. A failed fetch fails them all.
   */
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

  async function fetchOriginal(req: IncomingMessage | undefined, source: ImageSource): Promise<OriginalOutcome> {
    const key = source.key;
    let record = store.getOriginal(key);
    if (!record || Date.now() >= freshUntil(record, parts.intervalSeconds)) {
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
      const now = Date.now();
      if (fetched.status === 304 && record) {
        // The 304's fields replace the stored ones (RFC 9111 §4.3.4): a new Expires, a lifetime, or a `private` /
        // `no-store` that ends the keeping (the original is then asked for in full next time, and passed through).
        const cacheControl = headerText(fetched.headers['cache-control']) || record.cacheControl;
        const expires = headerText(fetched.headers.expires) || record.expires;
        const fields = keptFields(fetched.headers) ?? record.fields;
        const refused = notStorable({}, 200, { 'cache-control': cacheControl });
        record = { ...record, validatedAt: refused ? 0 : now, ...(cacheControl ? { cacheControl } : {}), ...(expires ? { expires } : {}), ...(fields ? { fields } : {}) };
        // Not written (the store reported why): the bytes stored are still the ones the origin just confirmed.
        await store.touchOriginal(record);
        if (refused) return { forward: `origin now says ${refused}` };
      } else {
        if (!fetched.body) {
          metrics.unbuffered.inc({ what: fetched.unbuffered ?? 'too-large' });
          const why = fetched.unbuffered === 'over-budget' ? 'too many image bytes in memory now (max-buffered)' : 'original larger than the store takes';
          return { response: fetched, skip: `${why}: streamed through, not stored` };
        }
        if (notStorable(req?.headers ?? {}, fetched.status, fetched.headers) || variesByClient(fetched.headers)) return { response: fetched };
        // Only image bytes are kept (SPEC §8): anything else under an image URL is the origin's to send each time.
        if (!isImageBytes(fetched.body)) return { response: fetched, skip: 'not an image (by its first bytes): passed through, not stored' };
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
          ...(fetched.headers.expires ? { expires: String(fetched.headers.expires) } : {}),
          ...(fields ? { fields } : {}),
          validatedAt: now,
          ...(probe.ok ? { facts: probe.facts } : { skip: probe.reason }),
        };
        if (!(await store.putOriginal(record, body))) return { response: fetched, skip: 'not stored: the store cannot write now (see the log): passed through' };
        // Stored: whoever sends it reads it back under its own hold on the budget.
        fetched.reservation?.release();
      }
    }
    return { record };
  }

  /** Experiments done on the original (under these settings), as this instance knows them. */
  function doneFor(key: string, record: OriginalRecord): readonly string[] {
    const progress = store.getProgress(key);
    return progress?.originalDigest === record.digest && progress.settings === settingsKey ? progress.done : [];
  }

  /**
   * What the original's experiments came to, as far as the store shows (see `KnownSizes`): the outcomes kept. One
   * that is done but not kept (not smaller than the original, or evicted since) is left unknown: it cannot be
   * told which, and an experiment that does not know runs.
   */
  function knownFor(key: string): KnownSizes {
    const known: Partial<Record<ExperimentName, number>> = {};
    for (const { slot, record: variant } of store.variantsOf(key)) {
      if (isOutcome(slot, variant) && slot !== CONVERTED_SLOT) known[slot as ExperimentName] = variant.size;
    }
    return known;
  }

  /**
   * Adds experiments done (and the mark that asked, a few of them kept) to the original's progress as it is when
   * written; nothing is written once the original has changed (its new version's progress is not this one's).
   */
  function addProgress(key: string, record: OriginalRecord, done: readonly string[], mark?: string): Promise<boolean> {
    return store.updateProgress(key, (progress) => {
      if (store.getOriginal(key)?.digest !== record.digest) return undefined;
      const same = progress?.originalDigest === record.digest && progress.settings === settingsKey;
      const marks = same ? (progress.marks ?? []) : [];
      const withMark = mark === undefined || marks.includes(mark) ? marks : [...marks, mark].slice(-MARKS_KEPT);
      return { originalDigest: record.digest, settings: settingsKey, done: [...new Set([...(same ? progress.done : []), ...done])], marks: withMark };
    });
  }

  /** Whether a kept variant is an outcome some mark may be served: an experiment's (of these settings) or a conversion. */
  const isOutcome = (slot: string, variant: VariantRecord) =>
    variant.settings === settingsKey && (slot === CONVERTED_SLOT || (slot === variant.experiment && slot !== 'transform' && Object.hasOwn(EXPERIMENTS, slot)));

  /**
   * The mark's best (SPEC §6): the smallest outcome kept whose format the mark allows, and its slot. Where the
   * mark allows the original, only an outcome smaller than it (a conversion made for another mark may not be).
   */
  function bestFor(key: string, record: OriginalRecord, capabilities: Capabilities, originalAllowed: boolean): { slot: string; record: VariantRecord } | undefined {
    let best: { slot: string; record: VariantRecord } | undefined;
    for (const kept of store.variantsOf(key)) {
      if (!isOutcome(kept.slot, kept.record) || !allowedByMark(kept.record.contentType, capabilities, true)) continue;
      if (originalAllowed && kept.record.size >= record.size) continue;
      if (!best || kept.record.size < best.record.size) best = kept;
    }
    return best;
  }

  /** The queue's key of an experiment on an original: one job whatever mark asked for it. */
  const jobKey = (key: string, name: string) => `${key}\u0000${name}`;

  /**
   * Queues the next experiment of the mark's plan that is not done, queued or running (here, or in a cluster
   * under another instance's lease), if any remains. Returns whether all have run (the mark's response is final).
   */
  async function scheduleNext(key: string, mark: string, capabilities: Capabilities, record: OriginalRecord, requests: number): Promise<boolean> {
    if (!record.facts) return true;
    const done = doneFor(key, record);
    const remaining = planForFacts(record.facts, capabilities, settings).filter((name) => !done.includes(name));
    if (remaining.length === 0) return true;
    const elsewhere = await shared?.leasedElsewhere(record.digest, remaining);
    const open = remaining.filter((name) => !elsewhere?.has(name));
    // Each request starts at most one experiment: the first its plan needs that nobody works on yet, else it
    // raises the priority of the first already waiting.
    const next = open.find((name) => !queue.has(jobKey(key, name))) ?? open[0];
    if (next) {
      // Busy here: offered to the cluster as well, so that an idle instance can take it (work stealing).
      if (shared && queue.running >= queue.concurrency) shared.offer({ key, mark, experiment: next, originalDigest: record.digest }, requests).catch(logFailure(logger, 'cluster: offering an experiment'));
      queue.offer(jobKey(key, next), requests, () => runExperiment(key, mark, record, next));
    }
    return false;
  }

  /**
   * In a cluster: takes what other instances found for the original. Their outcomes that are not here yet, once
   * their bytes match their digests; the experiments they ran, except one whose outcome could not be taken (its
   * bytes expired, were evicted or were too large to publish): this instance then runs that one itself, rather
   * than call a mark final without it.
   */
  async function adoptFromCluster(key: string, record: OriginalRecord, view: ClusterView): Promise<void> {
    if (view.damaged) {
      metrics.clusterEvents.inc({ event: 'refused' }, view.damaged);
      logger.warn({ image: key, damaged: view.damaged }, 'cluster: outcome facts in Redis are damaged, deleted and not used');
    }
    // Done elsewhere counts here only where this instance has what came of it: the outcome taken (or already
    // here), or the word that nothing was kept. Facts that were not asked for, expired or could not be taken leave
    // the experiment to run here: a mark is not final without the outcomes its plan needs.
    const had = new Set<string>(view.nothingKept);
    for (const outcome of view.outcomes) {
      if (store.getVariantRecord(key, outcome.experiment)?.digest === outcome.digest || (await adoptOutcome(key, record, outcome))) had.add(outcome.experiment);
    }
    const local = doneFor(key, record);
    const adopted = view.done.filter((name) => Object.hasOwn(EXPERIMENTS, name) && !local.includes(name) && view.asked.includes(name) && had.has(name));
    if (adopted.length > 0) await addProgress(key, record, adopted);
  }

  /**
   * Keeps another instance's outcome in the local store if its published bytes are what its facts say, of this
   * very original and settings, and in the format its experiment makes: whoever can write to Redis must not decide
   * a format. Whether it could.
   */
  async function adoptOutcome(key: string, record: OriginalRecord, outcome: VariantRecord): Promise<boolean> {
    if (outcome.originalDigest !== record.digest || outcome.settings !== settingsKey) {
      metrics.clusterEvents.inc({ event: 'refused' });
      logger.warn({ image: key, experiment: outcome.experiment }, 'cluster: published outcome is of another original or other settings, not used');
      return false;
    }
    const bytes = await shared?.bytes(outcome.digest);
    if (!bytes) return false;
    if (sha256(bytes) !== outcome.digest || bytes.length !== outcome.size || (outcome.contentEncoding === 'gzip' && !inflatesToSvg(bytes)) || bytesType(outcome, bytes) !== outcome.contentType) {
      metrics.clusterEvents.inc({ event: 'refused' });
      logger.warn({ image: key, experiment: outcome.experiment, digest: outcome.digest }, 'cluster: published outcome does not match its facts, not used');
      return false;
    }
    if (!(await store.putVariant(key, outcome.experiment, outcome, bytes))) return false;
    metrics.clusterEvents.inc({ event: 'adopted' });
    return true;
  }

  /**
   * Runs one experiment; in a cluster, under a lease that lapses if this instance dies (another then runs it),
   * and shares what came out: the experiment as done, its outcome.
   */
  async function runExperiment(key: string, mark: string, record: OriginalRecord, name: ExperimentName): Promise<void> {
    if (!shared) return experiment(key, mark, record, name);
    const leaseMs = parts.leaseMs ?? 10_000;
    const taken = await shared.lease(record.digest, name, leaseMs);
    if (taken === false) {
      metrics.clusterEvents.inc({ event: 'left-to-another-instance' });
      return;
    }
    shared.withdraw({ key, mark, experiment: name, originalDigest: record.digest }).catch(logFailure(logger, 'cluster: withdrawing an offer'));
    let lost = false;
    const renewal = setInterval(() => {
      shared.renew(record.digest, name, leaseMs).then((held) => {
        if (held !== false || lost) return;
        lost = true;
        metrics.clusterEvents.inc({ event: 'lease-lost' });
        logger.warn({ image: key, experiment: name }, 'cluster: lease lost while the experiment ran (Redis slow or away longer than the lease); another instance may run it too');
      }, logFailure(logger, 'cluster: renewing a lease'));
    }, leaseMs / 3);
    logger.info({ image: key, mark, experiment: name, instance: shared.instance }, 'experiment started under a cluster lease');
    try {
      // Done elsewhere since it was queued: nothing to run.
      const view = await shared.look(record.digest, [name]);
      if (view) await adoptFromCluster(key, record, view);
      if (doneFor(key, record).includes(name)) return;
      await experiment(key, mark, record, name);
    } finally {
      clearInterval(renewal);
      await shared.release(record.digest, name);
      // Once the queue has freed this slot (it does after this promise settles).
      setImmediate(() => {
        steal().catch(logFailure(logger, 'cluster: taking an offered experiment'));
      });
    }
  }

  /** Whether a steal is under way (one at a time: each takes a slot that must still be free when it lands). */
  let stealing = false;

  /**
   * Work stealing: with a free slot here, take the most requested experiment another instance offered because it
   * was busy, fetch its original (from the store, or the origin) and run it like our own, under its lease.
   */
  async function steal(): Promise<void> {
    if (!shared || stealing || !queue.accepting || queue.running + queue.queued >= queue.concurrency) return;
    stealing = true;
    try {
      const job = await shared.take();
      const source = job && sourceOfKey(job.key, parts.hostMode);
      if (!job || !source || !Object.hasOwn(EXPERIMENTS, job.experiment)) return;
      const found = await original(undefined, source);
      if ('response' in found) discard(found.response);
      if (!('record' in found) || found.record.digest !== job.originalDigest || doneFor(job.key, found.record).includes(job.experiment)) return;
      // Only work the mark's own plan has: an offer naming another experiment (a format the mark does not allow) is refused.
      const capabilities = capabilitiesOfMark(job.mark);
      if (!capabilities || !found.record.facts || !planForFacts(found.record.facts, capabilities, settings).includes(job.experiment as ExperimentName)) {
        metrics.clusterEvents.inc({ event: 'refused' });
        return;
      }
      metrics.clusterEvents.inc({ event: 'taken-from-another-instance' });
      queue.offer(jobKey(job.key, job.experiment), 0, () => runExperiment(job.key, job.mark, found.record, job.experiment as ExperimentName));
    } catch (err) {
      // The origin failed or hung for the original: its maker still has the job in its own queue.
      logger.warn({ error: (err as Error).message }, 'cluster: could not take an offered experiment');
    } finally {
      stealing = false;
    }
  }
  shared?.onOffered(() => {
    steal().catch(logFailure(logger, 'cluster: taking an offered experiment'));
  });

  /**
   * Runs one experiment on an original and keeps what came out for every mark: its outcome when it is acceptable
   * and smaller than the original (SPEC §6), and the experiment as done.
   */
  async function experiment(key: string, mark: string, record: OriginalRecord, name: ExperimentName): Promise<void> {
    // Read now, not when queued: a queue of thousands of jobs holds no image bytes.
    const bytes = await store.getOriginalBytes(record);
    if (!bytes) return;
    const outcome = await pool.run(name, bytes, settings, limits, { known: knownFor(key) });
    // Stopped, not failed: the experiment runs again after a restart. (One whose process crashed is recorded as
    // rejected below, and not tried again: an image that crashes a decoder crashes it every time.)
    if (!outcome.ok && outcome.reason === 'shutting down') return;
    if (!outcome.ok && outcome.unusable) {
      // Broken in a way only decoding shows (corrupt data, tables): passed through as it is from now on, saying why.
      logger.warn({ image: key, cause: 'encoder', reason: outcome.reason }, 'original cannot be decoded: passed through as it is');
      metrics.experiments.inc({ experiment: name, outcome: 'rejected' });
      const current = store.getOriginal(key);
      if (current?.digest === record.digest) await store.touchOriginal({ ...current, skip: outcome.reason });
      return;
    }
    const kept = outcome.ok && wireSize(outcome.variant) < record.size;
    if (outcome.ok && kept) {
      const made = storedVariant(record, outcome.variant, settingsKey);
      await store.putVariant(key, name, made.record, made.bytes);
      if (await shared?.publish(made.record, made.bytes)) metrics.clusterEvents.inc({ event: 'published' });
    }
    // Read again: what other instances did meanwhile may have been merged in.
    await addProgress(key, record, [name], mark);
    await shared?.markDone(record.digest, name, kept);
    metrics.experimentDuration.observe({ experiment: name }, outcome.ms / 1000);
    metrics.experiments.inc({ experiment: name, outcome: !outcome.ok ? 'rejected' : kept ? 'kept' : 'not-smaller' });
    observe();
    logger.info(
      { image: key, experiment: name, outcome: outcome.ok ? 'ok' : 'rejected', reason: outcome.ok ? undefined : outcome.reason, before: record.size, after: outcome.ok ? wireSize(outcome.variant) : undefined, dssim: outcome.ok ? outcome.variant.dssim : undefined, ms: outcome.ms },
      'experiment',
    );
  }

  /** Conversions to a format every client decodes, being made now (one per original). */
  const converting = new Map<string, Promise<StoredVariant | undefined>>();

  /**
   * An original the origin has only as WebP or AVIF, for a mark that allows neither: converted once to PNG (with
   * alpha) or JPEG (under the same DSSIM target) and kept as an outcome every mark may be served, so the promise
   * of the mark holds even then. An animation, or a conversion that fails, is not: `undefined`.
   */
  function decodableVariant(key: string, record: OriginalRecord, bytes: Buffer): Promise<StoredVariant | undefined> {
    if (!record.facts || record.facts.frames > 1) return Promise.resolve(undefined);
    const tag = `${key}\u0000${record.digest}`;
    let pending = converting.get(tag);
    if (!pending) {
      const format = record.facts.hasAlpha ? 'png' : 'jpeg';
      pending = pool
        .run('transform', bytes, { ...settings, transform: { format, dpr: 1, algorithm: 'auto' } }, limits, { urgent: true })
        .then(async (outcome) => {
          if (!outcome.ok) return undefined;
          const made = storedVariant(record, outcome.variant, settingsKey);
          await store.putVariant(key, CONVERTED_SLOT, made.record, made.bytes);
          return (await store.getVariant(key, CONVERTED_SLOT)) ?? made;
        })
        .finally(() => converting.delete(tag));
      converting.set(tag, pending);
    }
    return pending;
  }

  /** An origin answer that is not kept (404, private, …): as it came, or the fallback image for a 404. */
  async function answerUnstored(req: IncomingMessage, res: ServerResponse, fetched: FetchedResponse, skip?: string): Promise<ImageAnswer> {
    const fallback = fetched.status === 404 ? await parts.fallback?.get() : undefined;
    if (fallback) {
      discard(fetched);
      metrics.imageResponses.inc({ outcome: 'fallback' });
      // The 404 stays (caches and crawlers must not take the stand-in for the image); browsers show the body.
      res.writeHead(404, { 'Content-Type': fallback.contentType, 'Content-Length': fallback.bytes.length, 'Cache-Control': 'no-cache', 'X-Slimproxy-Skip': 'origin answered 404: fallback image' });
      res.end(req.method === 'HEAD' ? undefined : fallback.bytes);
      return { kind: 'answered', bytes: fallback.bytes.length };
    }
    metrics.imageResponses.inc({ outcome: 'passed-through' });
    const headers = responseHeadersForClient(fetched.rawHeaders);
    const reason = skip === undefined ? undefined : safeHeaderValue(skip);
    res.writeHead(fetched.status, fetched.statusMessage, reason === undefined ? headers : [...headers, 'X-Slimproxy-Skip', reason]);
    if (fetched.stream && req.method !== 'HEAD') return streamTo(res, fetched.stream);
    // The body is this response's now: its hold on the budget ends when the client has it (or is gone: already,
    // perhaps, while the fetch ran; `finished` calls back at once then, where a 'close' listener never would).
    finished(res, () => discard(fetched));
    res.end(req.method === 'HEAD' ? undefined : fetched.body);
    return { kind: 'answered', bytes: req.method === 'HEAD' ? 0 : (fetched.body?.length ?? 0) };
  }

  /** The stored original as it is, with the origin's validators and lifetime, and why (`X-Slimproxy-Skip`). */
  function answerOriginal(req: IncomingMessage, res: ServerResponse, record: OriginalRecord, bytes: Buffer | LentBytes, why: string): ImageAnswer {
    const headers: Record<string, string | number> = {
      ...record.fields,
      'Content-Type': record.contentType,
      'X-Slimproxy-Skip': why,
      ...(record.lastModified ? { 'Last-Modified': record.lastModified } : {}),
      ...(record.cacheControl ? { 'Cache-Control': record.cacheControl } : {}),
      ...(record.expires ? { Expires: record.expires } : {}),
      ...(record.etag ? { ETag: record.etag } : {}),
    };
    return sendImage(req, res, headers, bytes, record, 'skipped');
  }

  /**
   * Answers a marked image, or (`inPlace`) an unmarked one with capabilities from `Accept` (SPEC §7: then always
   * `private, no-transform` and `Vary: Accept`, since the URL does not say which variant it is).
   */
  async function serve(req: IncomingMessage, res: ServerResponse, marked: DecodedMark, inPlace = false): Promise<ImageAnswer> {
    const found = await storedOriginal(req, res, marked.url);
    if ('answer' in found) return found.answer;
    const { record, bytes } = found;
    const key = found.source.key;
    const localCount = (await store.countRequest(key)).count;
    const servable = record.facts && !record.skip ? servableExperiments(record.facts, marked.capabilities) : [];
    const view = await shared?.look(record.digest, servable, key);
    if (view) await adoptFromCluster(key, record, view);
    // In a cluster the queue is ordered by the cluster's counts; the local one stands in without Redis.
    const requests = view?.requests ?? localCount;
    // A mark is a promise (SPEC §5.5): an original in a format it does not allow is the origin's to answer, to
    // this client's own Accept, as if there were no proxy; a stored variant that breaks it is not used.
    const promised = (type: string, madeByUs: boolean) => allowedByMark(type, marked.capabilities, madeByUs);
    const originalAllowed = promised(bytesType(record, bytes), false);
    const forward = (reason: string): ImageAnswer => {
      found.letGo();
      return { kind: 'forward', reason };
    };
    if (record.skip) return originalAllowed ? answerOriginal(req, res, record, found.lent, record.skip) : forward(`${record.skip}; in a format the mark does not allow: the origin answers`);
    const final = store.writable && (await scheduleNext(key, marked.mark, marked.capabilities, record, requests));
    const best = bestFor(key, record, marked.capabilities, originalAllowed);
    // Without room for the variant's bytes too, the original (already held) is what this client gets.
    const lentVariant = best && found.hold.grow(best.record.size) ? await store.lendVariant(key, best.slot) : undefined;
    if (lentVariant) found.alsoLent(lentVariant.lent);
    const stored = lentVariant && { record: lentVariant.record, bytes: lentVariant.lent.bytes };
    let variant = stored && promised(bytesType(stored.record, stored.bytes), true) ? stored : undefined;
    if (stored && !variant) requestLogger(logger, req).warn({ image: key, mark: marked.mark, contentType: stored.record.contentType }, 'stored variant in a format its mark does not allow: not sent');
    if (!variant && !originalAllowed) {
      const own = await found.owned();
      const converted = own && (await settledWithin(decodableVariant(key, record, own), CONVERSION_WAIT_MS, 'late' as const));
      if (converted === 'late') return forward('original in a format the mark does not allow, its conversion not ready in time');
      variant = converted;
      if (!variant) return forward('original in a format the mark does not allow, and not convertible now');
    }
    let chosen = variant;
    let body = variant?.bytes ?? bytes;
    let coding: 'gzip' | undefined;
    if (variant?.record.contentEncoding === 'gzip') {
      if (acceptsGzip(req.headers['accept-encoding'])) coding = 'gzip';
      else body = gunzipSync(body);
      // Never bigger (SPEC §6) by the bytes this client gets: unzipped, a ZorroSVG may not beat the original.
      if (body.length >= record.size && originalAllowed) {
        chosen = undefined;
        body = bytes;
        coding = undefined;
      }
    }
    const made = chosen?.record;
    const lastModified = representationLastModified(record, made);
    const headers: Record<string, string | number> = {
      ...record.fields,
      'Content-Type': made?.contentType ?? bytesType(record, bytes),
      'Cache-Control': imageCacheControl(record, { final, inPlace, intervalSeconds: parts.intervalSeconds, interimSeconds: parts.interimSeconds }),
      ...(final && record.expires && parts.intervalSeconds === 0 && /^[\x20-\x7e]+$/.test(record.expires) ? { Expires: record.expires } : {}),
      // A final response goes on with the lifetime the origin (or the interval) gave when it last confirmed the
      // bytes: its age says how much of it is gone (RFC 9111 §5.1), or a cache downstream would start it afresh.
      ...(final && record.validatedAt > 0 ? { Age: Math.max(0, Math.floor((Date.now() - record.validatedAt) / 1000)) } : {}),
      // Each coding is its own representation (RFC 9110 §8.8.3): its own tag, and `Vary` says what chose it.
      ETag: imageEtag(made?.digest ?? record.digest, made?.contentEncoding === 'gzip' ? (coding ?? 'identity') : undefined),
      ...(lastModified ? { 'Last-Modified': lastModified } : {}),
      'X-Slimproxy-Image': imageDescription(record, made),
      ...(made?.shortfall ? { 'X-Slimproxy-Skip': made.shortfall } : {}),
      ...(coding ? { 'Content-Encoding': coding } : {}),
    };
    const vary = [...(inPlace ? ['Accept'] : []), ...(variant?.record.contentEncoding === 'gzip' ? ['Accept-Encoding'] : [])];
    if (vary.length > 0) headers.Vary = vary.join(', ');
    const lent = body === bytes ? found.lent : body === lentVariant?.lent.bytes ? lentVariant.lent : ownBytes(body);
    return sendImage(req, res, headers, lent, record, made ? 'variant' : 'original');
  }

  /**
   * The stored (fetched or revalidated) original of an image request, or the answer already given for it: handed
   * back to be forwarded (not GET/HEAD, with Authorization, not storable), or the origin's own answer.
   */
  async function storedOriginal(req: IncomingMessage, res: ServerResponse, path: string): Promise<StoredOriginal | { answer: ImageAnswer }> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return { answer: { kind: 'forward', reason: `method ${req.method}` } };
    if (req.headers.authorization !== undefined) return { answer: { kind: 'forward', reason: 'request with Authorization' } };
    const source = imageSource(path, req.headers, parts.hostMode);
    if (!source) return { answer: { kind: 'forward', reason: 'no store key for this request (a Host that names no server, or a URL too long)' } };
    const found = await original(req, source);
    if ('forward' in found) return { answer: { kind: 'forward', reason: found.forward } };
    if ('response' in found) return { answer: await answerUnstored(req, res, found.response, found.skip) };
    const { record } = found;
    // The bytes are held until this response is done with them: with no room for them, the origin streams it.
    const hold = parts.budget.reserve(record.size);
    if (!hold) {
      metrics.unbuffered.inc({ what: 'over-budget' });
      return { answer: { kind: 'forward', reason: 'too many image bytes in memory now (max-buffered): streamed from the origin' } };
    }
    // Bytes lent by the store (a view of its map when large) are given back with the hold, once the response is
    // flushed or closed; more lent for it (a variant) go with them.
    const lentToo: LentBytes[] = [];
    let givenBack = false;
    const giveBack = () => {
      givenBack = true;
      hold.release();
      for (const lent of lentToo) lent.release();
    };
    const stopWatching = finished(res, giveBack);
    const letGo = () => {
      stopWatching();
      giveBack();
    };
    const alsoLent = (more: LentBytes) => {
      // Lent after the response closed (its first read hashes it over many turns): given back at once.
      if (givenBack) more.release();
      else lentToo.push(more);
    };
    const lent = await store.lendOriginalBytes(record);
    if (!lent) {
      letGo();
      return { answer: { kind: 'forward', reason: 'stored original unreadable' } };
    }
    alsoLent(lent);
    // Work that may outlive this response (a conversion shared with other requests) gets memory of its own.
    const owned = () => (lent.inPlace ? store.getOriginalBytes(record) : Promise.resolve(lent.bytes));
    return { source, record, bytes: lent.bytes, lent, hold, letGo, alsoLent, owned };
  }

  /**
   * Sends an image with its headers (which carry its ETag): 304 with the validators, lifetime and `Vary` when the
   * client has it, the body otherwise, counted by `outcome`.
   */
  function sendImage(req: IncomingMessage, res: ServerResponse, given: Record<string, string | number>, sent: Buffer | LentBytes, record: OriginalRecord, outcome: string): ImageAnswer {
    const body = Buffer.isBuffer(sent) ? ownBytes(sent) : sent;
    // The one gate of every image answer's headers: a value Node would refuse never turns an image into a 502.
    const headers = safeHeaders(given);
    const lastModified = headers['Last-Modified'];
    if (notModified(req.headers, headers.ETag === undefined ? undefined : String(headers.ETag), lastModified === undefined ? undefined : String(lastModified))) {
      const kept = ['Cache-Control', 'Expires', 'Age', 'ETag', 'Last-Modified', 'Vary'].filter((name) => headers[name] !== undefined);
      res.writeHead(304, Object.fromEntries(kept.map((name) => [name, headers[name]!])));
      res.end();
      return { kind: 'answered', bytes: 0 };
    }
    const length = body.bytes.length;
    headers['Content-Length'] = length;
    metrics.imageResponses.inc({ outcome });
    metrics.imageBytes.inc({ side: 'original' }, record.size);
    metrics.imageBytes.inc({ side: 'sent' }, length);
    observe();
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else endWithLent(res, body);
    return { kind: 'answered', bytes: req.method === 'HEAD' ? 0 : length };
  }

  const core: ImageRouteCore = { parts, storedOriginal, answerOriginal, sendImage };
  return { serve, ...createImageApiRoute(core) };
}

/** What fetching (or revalidating) an original came to: kept, to be forwarded, or the origin's own answer. */
type OriginalOutcome = { record: OriginalRecord } | { forward: string } | { response: FetchedResponse; skip?: string };

/** An image's original as stored (fetched or revalidated just now if it had to be), and where it comes from. */
export interface StoredOriginal {
  readonly source: ImageSource;
  readonly record: OriginalRecord;
  /** The original's bytes, valid until the response closes (a view of the store's map when large: see `LentBytes`). */
  readonly bytes: Buffer;
  readonly lent: LentBytes;
  /** Ties more bytes lent by the store to this response: given back when it closes. */
  readonly alsoLent: (more: LentBytes) => void;
  /** The original's bytes as memory of their own, for work that may outlive the response or leave the thread. */
  readonly owned: () => Promise<Buffer | undefined>;
  /** The budget's hold on `bytes` (released when the response closes): grow it for any other body read. */
  readonly hold: Reservation;
  /** Releases the hold now, for a request handed back to be forwarded (the stored bytes are not sent). */
  readonly letGo: () => void;
}

/** What the image API and scaling routes share with the marked-image route: the original, and the answers. */
export interface ImageRouteCore {
  readonly parts: ImageRouteParts;
  readonly storedOriginal: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<StoredOriginal | { answer: ImageAnswer }>;
  readonly answerOriginal: (req: IncomingMessage, res: ServerResponse, record: OriginalRecord, bytes: Buffer | LentBytes, why: string) => ImageAnswer;
  readonly sendImage: (req: IncomingMessage, res: ServerResponse, headers: Record<string, string | number>, body: Buffer | LentBytes, record: OriginalRecord, outcome: string) => ImageAnswer;
}

export type ImageRoute = ReturnType<typeof createImageRoute>;
