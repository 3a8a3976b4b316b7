import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { servableExperiments } from '../images/plan.js';
import { settingsDigest } from '../images/settings.js';
import type { DecodedMark } from '../marks/index.js';
import { type LentBytes, ownBytes } from '../store/image-store.js';
import type { OriginalRecord, VariantRecord } from '../store/records.js';
import { acceptsGzip, safeHeaders } from './header-values.js';
import { createImageApiRoute } from './image-api-route.js';
import { freshUntil, imageCacheControl, imageDescription, imageEtag, representationLastModified } from './image-headers.js';
import { bytesType } from './image/bytes-type.js';
import { createExperiments } from './image/experiments.js';
import { createOriginals } from './image/originals.js';
import { Outcomes } from './image/outcomes.js';
import type { ImageAnswer, ImageRouteParts } from './image/parts.js';
import { KeptAnswers } from './image/kept-answers.js';
import { CLIENT_GONE } from './image/parts.js';
import { resolveImage } from './image/resolve.js';
import { originalHeaders, sendKept, sendImage } from './image/send.js';
import { lendOriginal, overBudget, storedOriginal } from './image/stored-original.js';
import { allowedByMark } from './mark-promise.js';
import { requestLogger } from './request-context.js';
import { CONVERSION_WAIT_MS, settledWithin } from './wait-at-most.js';

export type { ImageAnswer, ImageRouteParts } from './image/parts.js';

/**
 * SPEC §5: a marked image is answered from the store with the best version found so far, and its next
 * experiment is queued. A request goes through these steps (each in http/image/):
 *   1. resolve: its source (store key, origin path), or handed back to be forwarded (resolve.ts);
 *   2. its original: from the store while fresh, else confirmed or fetched from the origin (originals.ts); what
 *      the origin says may not be kept goes through as it came (send.ts: `answerUnstored`);
 *   3. decide: an original that cannot be improved is sent as it is, or left to the origin if the mark does not
 *      allow its format;
 *   4. pick: the smallest outcome the mark allows (outcomes.ts), its bytes the only ones read from the store;
 *   5. schedule: the next experiment its plan needs (experiments.ts);
 *   6. send, with the headers of what is sent (send.ts).
 * What a final image costs: a store record read (the original's), a range read of its outcomes, the progress
 * record, one lent read of the bytes sent, a counter in memory.
 */
export function createImageRoute(parts: ImageRouteParts) {
  const { store, logger, metrics, shared } = parts;
  const outcomes = new Outcomes(store, settingsDigest(parts.settings));
  const originals = createOriginals(parts);
  const experiments = createExperiments(parts, outcomes, originals);
  const answers = new KeptAnswers(parts.budget);
  metrics.sources.queue = () => parts.queue;
  metrics.sources.storeBytes = () => store.size;
  metrics.sources.keptAnswers = () => answers;

  /**
   * Keeps an answer that holds while its original and outcomes are the same and fresh (headers made safe now, bytes
   * copied if it is kept). Its `Age` is each response's own (`sendKept`), under the same `max-age`: an interim
   * answer's window then counts from when it was made, never past what the origin's lifetime leaves.
   */
  function keep(key: string, made: { readonly record: OriginalRecord; readonly generation: number; readonly waitingFor?: readonly string[] }, headers: Record<string, string | number>, bytes: Buffer, outcome: string): void {
    const { record } = made;
    const head: string[] = [];
    for (const [name, value] of Object.entries(safeHeaders(headers))) if (name !== 'Age') head.push(name, String(value));
    head.push('Content-Length', String(bytes.length));
    const etag = headers.ETag === undefined ? undefined : String(headers.ETag);
    const lastModified = headers['Last-Modified'] === undefined ? undefined : String(headers['Last-Modified']);
    answers.set(key, { ...made, freshUntil: freshUntil(record, parts), head, etag, lastModified, outcome }, bytes, Date.now());
  }

  /**
   * Answers a marked image, or (`inPlace`) an unmarked one with capabilities from `Accept` (SPEC §7: then always
   * `private, no-transform` and `Vary: Accept`, since the URL does not say which variant it is).
   */
  async function serve(req: IncomingMessage, res: ServerResponse, marked: DecodedMark, inPlace = false): Promise<ImageAnswer> {
    const resolved = resolveImage(req, marked.url, parts.hostMode);
    if ('forward' in resolved) return { kind: 'forward', reason: resolved.forward };
    // An answer given before, while its original is the same and fresh and nothing came of its experiments since:
    // sent as it was (see KeptAnswers); one before final raises the experiments it waits for, as step 5 would.
    const answerKey = KeptAnswers.key(resolved.source.key, marked.mark, inPlace);
    const now = Date.now();
    const kept = answers.get(answerKey, store.getOriginal(resolved.source.key), store.outcomeGeneration(resolved.source.key), now);
    if (kept && store.writable && (kept.waitingFor === undefined || experiments.stillWaiting(kept.waitingFor))) {
      if (res.destroyed) return CLIENT_GONE;
      const count = store.noteRequest(resolved.source.key, now);
      if (kept.waitingFor) experiments.raise(kept.waitingFor, count);
      return sendKept(metrics, req, res, kept);
    }
    const found = await storedOriginal(parts, originals, req, res, resolved.source);
    if ('answer' in found) return found.answer;
    const { record, hold } = found;
    const key = found.source.key;
    // Counted whatever comes of it: an image passed through as it is is requested all the same (eviction order).
    const localCount = store.noteRequest(key);
    // Read before the outcomes are: a variant written while this request runs makes its answer one not to keep.
    const generation = store.outcomeGeneration(key);
    // A mark is a promise (SPEC §5.5): an original in a format it does not allow is the origin's to answer, to
    // this client's own Accept, as if there were no proxy; a stored variant that breaks it is not used.
    const promised = (type: string, madeByUs: boolean) => allowedByMark(type, marked.capabilities, madeByUs);

    // 3. Nothing to improve: the original as it is (its type from its bytes: the record's may lie).
    if (record.skip !== undefined || !record.facts) {
      const original = await lendOriginal(parts, found);
      if ('answer' in original) return original.answer;
      const why = record.skip ?? 'nothing known of this image';
      if (!promised(bytesType(record, original.lent.bytes), false)) return hold.handBack(`${why}; in a format the mark does not allow: the origin answers`);
      const headers = originalHeaders(record, why);
      keep(answerKey, { record, generation }, headers, original.lent.bytes, 'skipped');
      return sendImage(metrics, req, res, headers, original.lent, record, 'skipped');
    }
    // Its type as its first bytes said when it was probed.
    const originalType = `image/${record.facts.type}`;
    const originalAllowed = promised(originalType, false);

    // 5. Counted, and what the cluster found taken in; the next experiment queued (in a cluster, ordered by the
    // cluster's counts; the local one stands in without Redis).
    const view = await shared?.look(record.digest, servableExperiments(record.facts, marked.capabilities), key);
    if (view) await experiments.adoptFromCluster(key, record, view);
    // While the store cannot be written nothing is queued (what came of it could not be kept), but an image whose
    // experiments have all run is final all the same: its answers keep their lifetime through a full disk.
    const schedule = store.writable ? await experiments.scheduleNext(key, marked.mark, marked.capabilities, record, view?.requests ?? localCount) : undefined;
    const final = schedule ? schedule.final : experiments.allRun(key, marked.capabilities, record);
    const waitingFor = schedule?.final === false ? schedule.waitingFor : undefined;

    // 4. The mark's best outcome: its bytes are the only ones read, under the response's hold on the budget.
    const best = outcomes.bestFor(key, record, marked.capabilities, originalAllowed);
    let variant: { readonly record: VariantRecord; readonly lent: LentBytes } | undefined;
    if (best) {
      // No room for it now: the origin's answer, rather than work or memory outside the budget.
      if (!hold.reserve(best.record.size)) return overBudget(parts, hold);
      const lent = await store.lendVariant(key, best.slot);
      if (lent) hold.keep(lent.lent);
      if (lent && promised(bytesType(lent.record, lent.lent.bytes), true)) variant = lent;
      else if (lent) requestLogger(logger, req).warn({ image: key, mark: marked.mark, contentType: lent.record.contentType }, 'stored variant in a format its mark does not allow: not sent');
    }
    if (!variant && !originalAllowed) {
      // The conversion reads the original (into memory of its own, as it may outlive this response): under the budget.
      if (!hold.reserve(record.size)) return overBudget(parts, hold);
      const own = await store.getOriginalBytes(record);
      const converted = own && (await settledWithin(experiments.decodableVariant(key, record, own), CONVERSION_WAIT_MS, 'late' as const));
      if (converted === 'late') return hold.handBack('original in a format the mark does not allow, its conversion not ready in time');
      if (!converted) return hold.handBack('original in a format the mark does not allow, and not convertible now');
      variant = { record: converted.record, lent: ownBytes(converted.bytes) };
    }
    let chosen = variant;
    let body = variant?.lent;
    let coding: 'gzip' | undefined;
    if (variant?.record.contentEncoding === 'gzip') {
      if (acceptsGzip(req.headers['accept-encoding'])) coding = 'gzip';
      else body = ownBytes(gunzipSync(variant.lent.bytes));
      // Never bigger (SPEC §6) by the bytes this client gets: unzipped, a ZorroSVG may not beat the original.
      if (body!.bytes.length >= record.size && originalAllowed) {
        chosen = undefined;
        body = undefined;
        coding = undefined;
      }
    }
    if (!body) {
      const original = await lendOriginal(parts, found);
      if ('answer' in original) return original.answer;
      body = original.lent;
    }

    // 6. Sent, with the headers of what it is.
    const made = chosen?.record;
    const lastModified = representationLastModified(record, made);
    const headers: Record<string, string | number> = {
      ...record.fields,
      'Content-Type': made?.contentType ?? originalType,
      'Cache-Control': imageCacheControl(record, { final, inPlace, intervalSeconds: parts.intervalSeconds, interimSeconds: parts.interimSeconds }),
      ...(final && record.expires && parts.intervalSeconds === 0 && /^[\x20-\x7e]+$/.test(record.expires) ? { Expires: record.expires } : {}),
      // Each coding is its own representation (RFC 9110 §8.8.3): its own tag, and `Vary` says what chose it.
      ETag: imageEtag(made?.digest ?? record.digest, made?.contentEncoding === 'gzip' ? (coding ?? 'identity') : undefined),
      ...(lastModified ? { 'Last-Modified': lastModified } : {}),
      'X-Slimproxy-Image': imageDescription(record, made),
      ...(made?.shortfall ? { 'X-Slimproxy-Skip': made.shortfall } : {}),
      ...(coding ? { 'Content-Encoding': coding } : {}),
    };
    const vary = [...(inPlace ? ['Accept'] : []), ...(variant?.record.contentEncoding === 'gzip' ? ['Accept-Encoding'] : [])];
    if (vary.length > 0) headers.Vary = vary.join(', ');
    // Kept when a repeat would get the same: final, or waiting for experiments all under way (not in a cluster, whose
    // other instances may find better bytes meanwhile); not what a content coding chose by the client's
    // Accept-Encoding.
    if ((final || waitingFor) && !shared && variant?.record.contentEncoding !== 'gzip') keep(answerKey, { record, generation, waitingFor }, headers, body.bytes, made ? 'variant' : 'original');
    return sendImage(metrics, req, res, headers, body, record, made ? 'variant' : 'original');
  }

  return { serve, ...createImageApiRoute(parts, originals) };
}

export type ImageRoute = ReturnType<typeof createImageRoute>;
