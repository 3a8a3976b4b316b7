import type { IncomingMessage, ServerResponse } from 'node:http';
import { VIEWPORT_HEADERS, viewportClass } from '../client/viewport.js';
import { type ExperimentOutcome, wireSize } from '../images/experiment.js';
import { TransformQueue } from '../optimizer/transform-queue.js';
import { imageCacheControl, imageDescription, imageEtag } from './image-headers.js';
import type { Capabilities } from '../client/index.js';
import { type ImageOptions, refusedFormats, transformSlot } from './image-options.js';
import type { Originals } from './image/originals.js';
import type { ImageAnswer, ImageRouteParts } from './image/parts.js';
import { bytesType } from './image/bytes-type.js';
import { answerOriginal, sendImage } from './image/send.js';
import { allowedByMark } from './mark-promise.js';
import { lendOriginal, storedOriginal } from './image/stored-original.js';
import { resolveImage } from './image/resolve.js';
import { storedVariant } from './stored-variant.js';
import { CONVERSION_WAIT_MS, settledWithin } from './wait-at-most.js';

/** Scaling is not compression: scaled JPEG and WebP are written at a quality no one tells from the original. */
const SCALED_QUALITY = 90;

/**
 * The routes that make an image to order rather than by background experiments: explicit image options (image
 * API) and `<image-scaling/>`. Both go through the `transform` experiment and keep the result in the store.
 */
export function createImageApiRoute(parts: ImageRouteParts, originals: Originals) {
  const { store, pool, settings, limits, metrics } = parts;

  /**
   * Transforms waiting or being made, by store key and digest: a second identical request waits for the first.
   * As many run as there are image processes, so one waiting here holds no original's bytes, only its place.
   */
  const transforms = new TransformQueue<ExperimentOutcome>(parts.maxTransformsWaiting, pool.size);
  metrics.sources.imageTransforms = () => transforms;
  /** Transforms that came out bigger than their original (not stored): not made again for every request. */
  const bigger = new Set<string>();

  /**
   * Image API: the image the URL's options ask for (crop, size, format, quality), made once in the experiment
   * pool and kept in the store next to the marks' variants, with the original's lifetime. A result bigger than an
   * original of the same dimensions is not sent: the original is, saying so.
   */
  async function transformed(req: IncomingMessage, res: ServerResponse, asked: ImageOptions): Promise<ImageAnswer> {
    // What the mark does not allow is refused by the transform itself (the original's own format included).
    const refuse = refusedFormats(asked.mark);
    const options = refuse.length === 0 ? asked : { ...asked, transform: { ...asked.transform, refuse } };
    const resolved = resolveImage(req, options.originUrl, parts.hostMode);
    if ('forward' in resolved) return { kind: 'forward', reason: resolved.forward };
    const found = await storedOriginal(parts, originals, req, res, resolved.source);
    if ('answer' in found) return found.answer;
    const { record, hold } = found;
    const key = found.source.key;
    // A marked URL's promise (SPEC §5.5) holds for every answer: bytes in a format its mark does not allow are the
    // origin's to answer, to this client's own Accept.
    const promised = (type: string, madeByUs: boolean) => !options.mark || allowedByMark(type, options.mark, madeByUs);
    // The original as it is, saying why; or, without room for its bytes now, the origin's.
    const original = async (why: string): Promise<ImageAnswer> => {
      const lent = await lendOriginal(parts, found);
      if ('answer' in lent) return lent.answer;
      if (!promised(bytesType(record, lent.lent.bytes), false)) return hold.handBack(`${why}; in a format the mark does not allow: the origin answers`);
      return answerOriginal(metrics, req, res, record, lent.lent, why);
    };
    if (record.skip) return original(record.skip);
    if (options.onlyWiderThan !== undefined && record.facts && record.facts.width <= options.onlyWiderThan) {
      return original(`no wider than ${options.onlyWiderThan} px: nothing to scale`);
    }
    store.noteRequest(key);
    // The effective transform, not the URL's words: option sets that make the same pixels share one variant.
    const slot = transformSlot(options, record.facts);
    const tag = `${key}\u0000${slot}\u0000${record.digest}`;
    if (bigger.has(tag)) return original('converted image bigger than original');
    const kept = store.getVariantRecord(key, slot);
    if (kept && !hold.reserve(kept.size)) return original('too many image bytes in memory now (max-buffered)');
    let variant = kept ? await store.getVariant(key, slot) : undefined;
    if (!variant) {
      // Shared with other requests, and may outlive this one: on bytes of its own, read when its turn comes.
      const admitted = transforms.run(tag, () =>
        store.getOriginalBytes(record).then((own) => (own ? pool.run('transform', own, { ...settings, ...options.encoding, transform: options.transform }, limits, { urgent: true }) : ({ ok: false, reason: 'stored original unreadable', encodes: 0, ms: 0 } as const))),
      );
      if (admitted.kind === 'full') return original(`transform queue full (${transforms.maxWaiting} waiting)`);
      const outcome = await settledWithin(admitted.result, CONVERSION_WAIT_MS, { ok: false, reason: 'transform not ready in time', encodes: 0, ms: 0 } as const);
      if (!outcome.ok) return original(outcome.reason);
      const made = outcome.variant;
      if (!made.reshaped && wireSize(made) >= record.size) {
        if (bigger.size > 10_000) bigger.clear();
        bigger.add(tag);
        return original('converted image bigger than original');
      }
      const stored = storedVariant(record, made);
      // Another request may have stored it meanwhile; a store that cannot write still lets this one be sent. Its
      // own entry of the eviction order: the original's requests (every option set's) say nothing of this one's.
      if (!store.getVariantRecord(key, slot)) await store.putVariant(key, slot, stored.record, stored.bytes, { ownEntry: true });
      variant = (await store.getVariant(key, slot)) ?? stored;
    }
    // What the transform makes follows the mark (`refuse`); a stored variant that does not is not sent.
    if (!promised(bytesType(variant.record, variant.bytes), true)) return original('transformed image in a format the mark does not allow');
    // A second request of this option set takes it off probation; a one-off one is evicted before any image
    // requested repeatedly (SPEC §8).
    store.noteVariantRequest(key, slot);
    const headers: Record<string, string | number> = {
      'Content-Type': variant.record.contentType,
      'Cache-Control': imageCacheControl(record, { final: true, inPlace: false, intervalSeconds: parts.intervalSeconds, interimSeconds: parts.interimSeconds }),
      ...(options.vary.length > 0 ? { Vary: options.vary.join(', ') } : {}),
      ETag: imageEtag(variant.record.digest),
      ...(record.lastModified ? { 'Last-Modified': record.lastModified } : {}),
      'X-Slimproxy-Image': imageDescription(record, variant.record),
      ...(variant.record.shortfall ? { 'X-Slimproxy-Skip': variant.record.shortfall } : {}),
    };
    return sendImage(metrics, req, res, headers, variant.bytes, record, 'transformed');
  }

  /**
   * `<image-scaling/>`: a marked or in-place image scaled down to the client's viewport width class (SPEC §1:
   * instead of compression), in its own format at a high fixed quality. No class (a desktop, an unknown client):
   * forwarded as it is.
   */
  async function scaled(req: IncomingMessage, res: ServerResponse, url: string, mark: Capabilities | undefined): Promise<ImageAnswer> {
    const viewport = viewportClass(req.headers);
    if (viewport.width === undefined) return { kind: 'forward', reason: 'no viewport class: not scaled' };
    return transformed(req, res, {
      transform: { size: { width: viewport.width }, dpr: 1, algorithm: 'auto' },
      originUrl: url,
      vary: [...VIEWPORT_HEADERS],
      encoding: { method: 'none', quality: SCALED_QUALITY },
      onlyWiderThan: viewport.width,
      ...(mark ? { mark } : {}),
    });
  }

  return { transformed, scaled };
}
