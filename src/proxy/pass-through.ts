import type { IncomingMessage, ServerResponse } from 'node:http';
import { responseHeadersForClient } from './hop-by-hop.js';
import { RequestSlot } from './request-slot.js';

/** What became of a response body on its way to the client. */
export interface BodyOutcome {
  readonly bytes: number;
  /** Set when the body did not arrive whole: the client's response was aborted, never cut short silently. */
  readonly error?: Error;
}

const bodyCounters = new RequestSlot<IncomingMessage, { bytes: number }>('slimproxy.body-bytes');

/**
 * The body bytes an origin response has delivered so far, counted by one `data` listener however many parts want
 * the figure (the origin byte counter, the pass-through's request line): each listener is more work per chunk.
 * Attaching it starts the response flowing, as any `data` listener does.
 */
export function bodyCounter(originRes: IncomingMessage): { readonly bytes: number } {
  let counter = bodyCounters.get(originRes);
  if (!counter) {
    const counting = { bytes: 0 };
    originRes.on('data', (chunk: Buffer) => {
      counting.bytes += chunk.length;
    });
    bodyCounters.set(originRes, (counter = counting));
  }
  return counter;
}

/**
 * Fields never passed on as trailers: what RFC 9110 §6.5.1 says no trailer may carry (framing, routing,
 * authentication, response control data, how to process the content) and the hop-by-hop ones, which HTTP/2 refuses
 * outright (Node throws from inside the stream when asked to send `Connection` or `Transfer-Encoding` as a
 * trailer: an uncaught exception, the whole process with it).
 */
const NEVER_TRAILERS: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'http2-settings', 'trailer',
  'content-length', 'content-encoding', 'content-type', 'content-range', 'host', 'authorization',
  'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'set-cookie', 'cache-control', 'expires',
  'age', 'date', 'vary', 'location', 'retry-after',
]);

/**
 * Trailers as [name, value] pairs, keeping repeats and spelling (`res.addTrailers` takes this form), less the
 * fields no trailer may carry (`NEVER_TRAILERS`, pseudo-fields, those a `Connection` trailer names) and those
 * `dropped` names (lower-case).
 */
export function trailerPairs(rawTrailers: readonly string[], dropped?: ReadonlySet<string>): [string, string][] {
  const pairs: [string, string][] = [];
  let listed: Set<string> | undefined;
  for (let i = 0; i + 1 < rawTrailers.length; i += 2) {
    if (rawTrailers[i]!.toLowerCase() === 'connection') {
      for (const token of rawTrailers[i + 1]!.split(',')) (listed ??= new Set()).add(token.trim().toLowerCase());
    }
  }
  for (let i = 0; i + 1 < rawTrailers.length; i += 2) {
    const name = rawTrailers[i]!.toLowerCase();
    if (NEVER_TRAILERS.has(name) || name.startsWith(':') || listed?.has(name) || dropped?.has(name)) continue;
    pairs.push([rawTrailers[i] as string, rawTrailers[i + 1] as string]);
  }
  return pairs;
}

/** A flat header list without its `Content-Length` fields. */
function withoutContentLength(head: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < head.length; i += 2) if (head[i]!.toLowerCase() !== 'content-length') kept.push(head[i]!, head[i + 1]!);
  return kept;
}

/**
 * Sends the origin's response to the client as it is: status, reason phrase, headers (less hop-by-hop) and
 * trailers, body streamed with back-pressure and never buffered. If the origin's body fails midway the client's
 * response is destroyed, so it cannot be taken for a complete, shorter body; a client that goes away ends the
 * origin's response too. (`pipe` and four listeners, not `stream.pipeline`: that makes an AbortController and
 * throws a DOMException into it for every response, a third of what a pass-through costs the proxy.)
 */
export function passThrough(originRes: IncomingMessage, res: ServerResponse, done: (outcome: BodyOutcome) => void): void {
  const head = responseHeadersForClient(originRes.rawHeaders);
  // A 204 has no content, so no length to state (RFC 9110 §8.6): a sloppy origin's is not passed on.
  res.writeHead(originRes.statusCode ?? 502, originRes.statusMessage, originRes.statusCode === 204 ? withoutContentLength(head) : head);
  const received = bodyCounter(originRes);
  // Registered before the pipeline so it runs before the pipeline ends the response: trailers must be added
  // before `end()`. They only come on a chunked response (HTTP/1.1 without Content-Length), and are only sent on
  // one, as on the origin.
  if (originRes.headers['content-length'] === undefined) {
    originRes.once('end', () => {
      if (originRes.rawTrailers.length > 0) res.addTrailers(trailerPairs(originRes.rawTrailers));
    });
  }
  let settled = false;
  const settle = (error?: Error) => {
    if (settled) return;
    settled = true;
    if (error) {
      originRes.destroy();
      res.destroy(error);
    }
    done(error ? { bytes: received.bytes, error } : { bytes: received.bytes });
  };
  originRes.once('error', settle);
  originRes.once('close', () => {
    if (!originRes.complete) settle(new Error('the origin closed its response before the end'));
  });
  // 'close' follows 'finish' on every response: one listener tells a whole body from a client gone first.
  res.once('close', () => settle(res.writableFinished ? undefined : new Error('the client closed the connection')));
  originRes.pipe(res);
}
