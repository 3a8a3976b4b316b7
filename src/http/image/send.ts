import type { IncomingMessage, ServerResponse } from 'node:http';
import { finished, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Metrics } from '../../observability/metrics.js';
import { responseHeadersForClient } from '../../proxy/hop-by-hop.js';
import type { FetchedResponse } from '../../proxy/origin-fetch.js';
import { type LentBytes, ownBytes } from '../../store/image-store.js';
import type { OriginalRecord } from '../../store/records.js';
import type { FallbackImage } from '../fallback-image.js';
import { safeHeaderValue, safeHeaders } from '../header-values.js';
import { ageOf, notModified } from '../image-headers.js';
import { endWithLent } from '../lent-body.js';
import type { KeptAnswer } from './kept-answers.js';
import { discard } from './originals.js';
import type { ImageAnswer } from './parts.js';

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
 * Step 6: sends an image made from the stored original `record` with its headers (which carry its ETag and
 * lifetime) and the original's `Age`: 304 with the validators, lifetime and `Vary` when the client has it, the body
 * otherwise, counted by `outcome`.
 */
export function sendImage(metrics: Metrics, req: IncomingMessage, res: ServerResponse, given: Record<string, string | number>, sent: Buffer | LentBytes, record: OriginalRecord, outcome: string): ImageAnswer {
  // Here, for every answer made from a stored original: its lifetime is the origin's (or counted as the origin's),
  // and without its age a cache downstream would start it afresh (RFC 9111 §5.1).
  const age = ageOf(record, Date.now());
  // The one gate of every image answer's headers: a value Node would refuse never turns an image into a 502.
  return sendSafe(metrics, req, res, safeHeaders(age === undefined ? given : { ...given, Age: age }), Buffer.isBuffer(sent) ? ownBytes(sent) : sent, record.size, outcome);
}

/** A kept answer (see `KeptAnswers`): its head is safe and whole already, less this moment's `Age` (as `sendImage`). */
export function sendKept(metrics: Metrics, req: IncomingMessage, res: ServerResponse, answer: KeptAnswer): ImageAnswer {
  const age = ageOf(answer.record, Date.now());
  const head = age === undefined ? answer.head : [...answer.head, 'Age', String(age)];
  if (notModified(req.headers, answer.etag, answer.lastModified)) {
    const kept: string[] = [];
    for (let i = 0; i + 1 < head.length; i += 2) if (NOT_MODIFIED_FIELDS.has(head[i]!)) kept.push(head[i]!, head[i + 1]!);
    res.writeHead(304, kept);
    res.end();
    return { kind: 'answered', bytes: 0 };
  }
  counted(metrics, answer.outcome, answer.record.size, answer.body.length);
  // Shared by every response of the answer: Node only reads a head given as a list.
  res.writeHead(200, head as string[]);
  if (req.method === 'HEAD') res.end();
  else res.end(answer.body);
  return { kind: 'answered', bytes: req.method === 'HEAD' ? 0 : answer.body.length };
}

/** What a 304 keeps of the 200's headers: its validators, lifetime and `Vary` (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS = new Set(['Cache-Control', 'Expires', 'Age', 'ETag', 'Last-Modified', 'Vary']);

/** An image answer counted: by what was sent, and its bytes against the original's. */
function counted(metrics: Metrics, outcome: string, originalSize: number, sent: number): void {
  metrics.pending.imageResponses.of(outcome, { outcome }).count += 1;
  metrics.pending.imageBytes.original.of(outcome, { side: 'original', outcome }).count += originalSize;
  metrics.pending.imageBytes.sent.of(outcome, { side: 'sent', outcome }).count += sent;
}

function sendSafe(metrics: Metrics, req: IncomingMessage, res: ServerResponse, headers: Record<string, string | number>, body: LentBytes, originalSize: number, outcome: string): ImageAnswer {
  const lastModified = headers['Last-Modified'];
  if (notModified(req.headers, headers.ETag === undefined ? undefined : String(headers.ETag), lastModified === undefined ? undefined : String(lastModified))) {
    const kept = [...NOT_MODIFIED_FIELDS].filter((name) => headers[name] !== undefined);
    res.writeHead(304, Object.fromEntries(kept.map((name) => [name, headers[name]!])));
    res.end();
    return { kind: 'answered', bytes: 0 };
  }
  const length = body.bytes.length;
  headers['Content-Length'] = length;
  counted(metrics, outcome, originalSize, length);
  res.writeHead(200, headers);
  if (req.method === 'HEAD') res.end();
  else endWithLent(res, body);
  return { kind: 'answered', bytes: req.method === 'HEAD' ? 0 : length };
}

/** The stored original as it is, with the origin's validators and lifetime, and why (`X-Slimproxy-Skip`). */
export function answerOriginal(metrics: Metrics, req: IncomingMessage, res: ServerResponse, record: OriginalRecord, bytes: Buffer | LentBytes, why: string): ImageAnswer {
  return sendImage(metrics, req, res, originalHeaders(record, why), bytes, record, 'skipped');
}

/** The headers of the stored original sent as it is: the origin's (its `Age` is `sendImage`'s), and why it is (`X-Slimproxy-Skip`). */
export function originalHeaders(record: OriginalRecord, why: string): Record<string, string | number> {
  return {
    ...record.fields,
    'Content-Type': record.contentType,
    'X-Slimproxy-Skip': why,
    ...(record.lastModified ? { 'Last-Modified': record.lastModified } : {}),
    ...(record.cacheControl ? { 'Cache-Control': record.cacheControl } : {}),
    ...(record.expires ? { Expires: record.expires } : {}),
    ...(record.etag ? { ETag: record.etag } : {}),
  };
}

/** An origin answer that is not kept (404, private, …): as it came, or the fallback image for a 404. */
export async function answerUnstored(metrics: Metrics, fallbackImage: FallbackImage | undefined, req: IncomingMessage, res: ServerResponse, fetched: FetchedResponse, skip?: string): Promise<ImageAnswer> {
  const fallback = fetched.status === 404 ? await fallbackImage?.get() : undefined;
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
