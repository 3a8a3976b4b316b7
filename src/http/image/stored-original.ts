import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LentBytes } from '../../store/image-store.js';
import type { OriginalRecord } from '../../store/records.js';
import type { ImageSource } from '../image-source.js';
import type { Originals } from './originals.js';
import { CLIENT_GONE, type ImageAnswer, type ImageRouteParts } from './parts.js';
import { ResponseHold } from './response-hold.js';
import { answerUnstored } from './send.js';

/** An image request's original as stored (fetched or confirmed just now if it had to be), before any byte is read. */
export interface StoredOriginal {
  readonly source: ImageSource;
  readonly record: OriginalRecord;
  /** What the response holds of the budget and the store until it closes. */
  readonly hold: ResponseHold;
}

/**
 * Step 2, as both image routes go on from step 1 (`resolveImage`): the original of the request's source, or the
 * answer already given (the origin's own: a 404, `private`, …) or the reason it is handed back to be forwarded.
 */
export async function storedOriginal(parts: ImageRouteParts, originals: Originals, req: IncomingMessage, res: ServerResponse, source: ImageSource): Promise<StoredOriginal | { readonly answer: ImageAnswer }> {
  const found = await originals.original(req, source);
  if ('forward' in found) return { answer: { kind: 'forward', reason: found.forward } };
  if ('response' in found) return { answer: await answerUnstored(parts.metrics, parts.fallback, req, res, found.response, found.skip) };
  const hold = new ResponseHold(res, parts.budget);
  // The client went away while the original was fetched: nothing to send, nothing to forward.
  if (hold.gone) return { answer: CLIENT_GONE };
  return { source, record: found.record, hold };
}

/**
 * The original's bytes for this response, under its hold on the budget; or, when there is no room for them now or
 * they are unreadable, the request handed back to go to the origin.
 */
export async function lendOriginal(parts: ImageRouteParts, found: StoredOriginal): Promise<{ readonly lent: LentBytes } | { readonly answer: ImageAnswer }> {
  if (!found.hold.reserve(found.record.size)) return { answer: overBudget(parts, found.hold) };
  const lent = await parts.store.lendOriginalBytes(found.record);
  if (!lent) return { answer: found.hold.handBack('stored original unreadable') };
  found.hold.keep(lent);
  return { lent };
}

/** No room under `<limits max-buffered>` for what the response would send: the origin's answer instead, counted. */
export function overBudget(parts: ImageRouteParts, hold: ResponseHold): ImageAnswer {
  if (!hold.gone) parts.metrics.unbuffered.inc({ what: 'over-budget' });
  return hold.handBack('too many image bytes in memory now (max-buffered): streamed from the origin');
}
