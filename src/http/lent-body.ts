import type { ServerResponse } from 'node:http';
import type { LentBytes } from '../store/image-store.js';
import { copyInSlices } from '../store/sliced.js';

/** How long a client may take to receive a body lent in place before the rest is sent from a copy. */
export const LENT_MS = 5000;
/** One write: large enough to cost few calls, small enough that the copy point comes soon after `LENT_MS`. */
const PIECE_BYTES = 1024 * 1024;

/**
 * Ends `res` with a body lent by the store. Bytes of their own go in one write. A view of the store's map is written
 * in pieces as the client takes them, with no copy; a client still reading it after `lentMs` gets the rest from a
 * copy, and the view is given back once the pieces written are flushed: a read transaction held for a slow reader
 * keeps LMDB from reusing every page freed meanwhile, and the store's file would grow for as long as it reads. (A
 * client that reads nothing holds its last piece until the idle timeout closes it; closing gives the view back.)
 * The caller gives the bytes back when the response closes in any case (`release` is idempotent).
 */
export function endWithLent(res: ServerResponse, body: LentBytes, lentMs = LENT_MS): void {
  if (!body.inPlace) {
    res.end(body.bytes);
    return;
  }
  const started = Date.now();
  let source = body.bytes;
  let at = 0;
  let unflushed = 0;
  let copied = false;
  const flushed = () => {
    unflushed -= 1;
    if (copied && unflushed === 0) body.release();
  };
  const copyRest = async () => {
    // A response that closes meanwhile has given the view back (the store may unmap it): the copy stops there.
    const rest = await copyInSlices(source.subarray(at), () => res.destroyed);
    copied = true;
    if (unflushed === 0) body.release();
    source = rest;
    at = 0;
    writeSome();
  };
  // The copy too goes in pieces as the client takes them: one write of the rest would show no progress to the
  // idle timeout until the last of it was flushed, and a client reading steadily but slowly was cut.
  const writeSome = () => {
    while (at < source.length && !res.destroyed) {
      if (!copied && Date.now() - started >= lentMs) {
        copyRest().catch(() => res.destroy());
        return;
      }
      const piece = source.subarray(at, Math.min(at + PIECE_BYTES, source.length));
      at += piece.length;
      if (!copied) unflushed += 1;
      if (!res.write(piece, copied ? undefined : flushed)) {
        res.once('drain', writeSome);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  writeSome();
}
