import { Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage, request as httpRequest } from 'node:http';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import type { MemoryBudget, Reservation } from '../http/memory-budget.js';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { fromOrigin, limitOriginSilence } from './origin-failure.js';
import { isWritableStatus, unwritableStatusError, writableReason } from './origin-status.js';

export interface FetchedResponse {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /** The whole body, or `undefined` when it is not held (then `stream`). */
  readonly body: Buffer | undefined;
  /**
   * The body when it is not held whole: what arrived so far, then the rest as the origin sends it (with
   * backpressure: a slow client slows the origin, memory stays bounded). Read it or destroy it.
   */
  readonly stream?: Readable;
  /** Why the body streams: larger than allowed, or no room under the memory budget. */
  readonly unbuffered?: 'too-large' | 'over-budget';
  /** The budget's hold on `body`: released by the caller once it has let go of the body. */
  readonly reservation?: Reservation;
}

/**
 * A whole response from the origin, for the image route (which needs the original's bytes, not a stream).
 * A body above `maxBytes`, or one that does not fit the memory budget, is not held: it is handed over as a
 * stream, fetched once, to go to the client as it is.
 */
export class OriginFetcher {
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(
    private readonly target: URL,
    private readonly timeoutMs: number,
    /** Hears of every body chunk the origin sends (for the byte counters). */
    private readonly onBody: (bytes: number) => void = () => undefined,
  ) {
    const options = { keepAlive: true, maxFreeSockets: 32, timeout: 4000 };
    this.agent = target.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
  }

  fetch(path: string, headers: IncomingHttpHeaders, maxBytes: number, budget?: MemoryBudget): Promise<FetchedResponse> {
    const url = new URL(this.target);
    const request = this.target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, rejectWith) => {
      // Whatever ends the exchange in failure (a parser error comes on the request, not the response) lets go of
      // what the body held under the budget.
      let held: Reservation | undefined;
      let response: IncomingMessage | undefined;
      const reject = (err: Error) => {
        // Whole by its own framing: bytes after it (a body longer than its Content-Length) are no response's, and
        // its end still comes. Browsers show such a response as declared.
        if (response?.complete === true) return;
        held?.release();
        rejectWith(fromOrigin(err));
      };
      const req = request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          path: (url.pathname.replace(/\/$/, '') + path) || '/',
          method: 'GET',
          // The origin's own name, unless the caller names the virtual host (`<origin host="client">`).
          headers: { ...headers, host: headers.host ?? url.host },
          agent: this.agent,
        },
        (res) => {
          if (!isWritableStatus(res.statusCode)) {
            res.destroy();
            reject(unwritableStatusError(res.statusCode));
            return;
          }
          response = res;
          const head = { status: res.statusCode, statusMessage: writableReason(res.statusCode, res.statusMessage), headers: res.headers, rawHeaders: res.rawHeaders };
          const declared = Number(res.headers['content-length']);
          const known = Number.isSafeInteger(declared) && declared >= 0;
          const reservation = budget ? budget.reserve(known ? declared : 0) : undefined;
          held = reservation;
          // A body of known length is gathered in place as it arrives: joining the chunks of a 50 MB body at its
          // end would hold the event loop for tens of milliseconds.
          let whole = known && declared > 0 && declared <= maxBytes ? Buffer.allocUnsafeSlow(declared) : undefined;
          const chunks: Buffer[] = [];
          let size = 0;
          let settled = false;
          const received = () => (whole ? [whole.subarray(0, size)] : chunks.splice(0));
          const streamRest = (why: 'too-large' | 'over-budget') => {
            settled = true;
            held = undefined;
            res.off('data', onData);
            res.off('end', onEnd);
            res.pause();
            resolve({ ...head, body: undefined, stream: restOf(received(), res, () => reservation?.release()), unbuffered: why });
          };
          const onData = (chunk: Buffer) => {
            if (whole && size + chunk.length <= whole.length) {
              chunk.copy(whole, size);
            } else {
              // Longer than it said: chunks from here on.
              if (whole) chunks.push(whole.subarray(0, size));
              whole = undefined;
              chunks.push(chunk);
            }
            size += chunk.length;
            if (size > maxBytes) return streamRest('too-large');
            // A body longer than it said is held byte for byte too.
            if (reservation && size > reservation.size && !reservation.grow(size - reservation.size)) streamRest('over-budget');
          };
          const onEnd = () => {
            settled = true;
            // The caller holds it from here on (and releases it).
            held = undefined;
            const body = whole ? (size === whole.length ? whole : whole.subarray(0, size)) : Buffer.concat(chunks, size);
            resolve({ ...head, body, ...(reservation ? { reservation } : {}) });
          };
          res.on('data', (chunk: Buffer) => this.onBody(chunk.length));
          res.on('error', (err) => {
            if (settled) return;
            reservation?.release();
            reject(err);
          });
          res.on('aborted', () => {
            if (settled) return;
            reservation?.release();
            reject(Object.assign(new Error('origin aborted the response'), { code: 'ECONNRESET' }));
          });
          if (known && declared > maxBytes) return streamRest('too-large');
          if (budget && !reservation) return streamRest('over-budget');
          res.on('data', onData);
          res.on('end', onEnd);
        },
      );
      limitOriginSilence(req, this.timeoutMs);
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * The chunks already received, then the rest of the response as it comes; `done` once it ends or is destroyed
 * (the held chunks are then gone). An origin that breaks off mid-body breaks the stream: the client's response
 * is cut, never passed off as whole.
 */
function restOf(received: Buffer[], res: IncomingMessage, done: () => void): Readable {
  const stream = new PassThrough();
  for (const chunk of received) stream.write(chunk);
  stream.once('close', done);
  res.once('aborted', () => stream.destroy(new Error('origin aborted the response')));
  pipeline(res, stream, (err) => {
    if (err) stream.destroy(err);
  });
  return stream;
}
