import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Histogram } from 'prom-client';
import { LineFields, type Logger, writeLine } from '../observability/log.js';
import type { Metrics, PendingCount } from '../observability/metrics.js';
import { requestContext } from './request-context.js';
import { RequestSlot } from '../proxy/request-slot.js';

export type Route = 'health' | 'proxy' | 'marked' | 'image-api' | 'upgrade' | 'refused';

/** Whose fault a failed exchange was: what an operator looks at first during an incident. */
export type FailureCause = 'origin' | 'store' | 'client' | 'encoder' | 'proxy';

export interface RequestEnd {
  /** Body bytes sent to the client. */
  readonly bytes: number;
  /** Why the exchange went wrong, when it did (logged, and counted as "aborted" if the response was cut). */
  readonly error?: string;
  readonly aborted?: boolean;
  /** Whose fault `error` was (counted in `slimproxy_failures_total`). */
  readonly cause?: FailureCause;
}

/** The counters of one (route, outcome), looked up once: a labelled lookup hashes its labels on every call. */
interface RouteCounters {
  readonly requests: PendingCount;
  readonly duration: Histogram.Internal<'route'>;
}
// eslint-disable-next-line no-restricted-syntax -- keyed by the proxy's metrics, one per process, not by a request
const counters = new WeakMap<Metrics, Map<string, RouteCounters>>();

function countersOf(metrics: Metrics, route: Route, outcome: string): RouteCounters {
  let known = counters.get(metrics);
  if (!known) counters.set(metrics, (known = new Map<string, RouteCounters>()));
  const key = `${route} ${outcome}`;
  let found = known.get(key);
  if (!found) known.set(key, (found = { requests: metrics.pending.requests.of(key, { route, outcome }), duration: metrics.requestDuration.labels({ route }) }));
  return found;
}

/** Why a response's connection was closed by us, when it was (the close would otherwise be taken for the client's). */
const closeReasons = new RequestSlot<ServerResponse, string>('slimproxy.close-reason');

/** Records why the proxy is about to close a response's connection, for its request line (cause: client). */
export function explainClose(res: ServerResponse, reason: string): void {
  closeReasons.set(res, reason);
}

/**
 * One JSON line per request (id, client, method, path, status, bytes, duration, and what went wrong and whose
 * fault it was), written once however the exchange ends: by its handler, or by the client going away first.
 */
export function beginRequestLog(
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  logger: Logger,
  metrics: Metrics,
): (end: RequestEnd) => void {
  const context = requestContext(req);
  const startedAt = performance.now();
  const method = req.method ?? '';
  const path = req.url ?? '';
  let written = false;
  let pending: RequestEnd | undefined;
  const write = (end: RequestEnd) => {
    if (written) return;
    written = true;
    const ms = performance.now() - startedAt;
    const aborted = end.aborted === true || !res.writableFinished;
    const status = res.headersSent ? res.statusCode : 0;
    const outcome = aborted ? 'aborted' : `${Math.floor(status / 100)}xx`;
    const counted = countersOf(metrics, route, outcome);
    counted.requests.count += 1;
    counted.duration.observe(ms / 1000);
    metrics.clientBytes.inc(end.bytes);
    const line = new LineFields();
    if (context) line.string('reqId', context.id).string('client', context.client);
    line.string('method', method).string('path', path).number('status', status).number('bytes', end.bytes).number('ms', Math.round(ms * 10) / 10).string('route', route);
    if (aborted) line.flag('aborted', true);
    if (end.error === undefined && !aborted && status < 500) {
      writeLine(logger, 'info', line, 'request');
      return;
    }
    // Unless the handler knows better: a cut response is the client's doing, and a 5xx that the proxy did not
    // make itself (those come with their cause) is the origin's, passed on.
    const cause = end.cause ?? (aborted ? 'client' : status >= 500 ? 'origin' : 'proxy');
    metrics.failures.inc({ cause });
    writeLine(logger, 'warn', line.string('error', end.error).string('cause', cause), 'request');
  };
  // The handler reports how its response went once it has handed it over; a body not all written yet (a large
  // one, a slow client) is logged when its last byte is, or as cut if the connection ends first. A connection
  // that closes before the handler reports still gets its line.
  // A response is also "finished" when its socket is destroyed under it: what tells a cut one apart is our own
  // drop (`explainClose`) or an error on the socket meanwhile.
  // An error on the connection destroys it: `errored` says so without a listener per request (each one, with the
  // closure it keeps, was a request's worth of objects referenced from the long-lived socket).
  const socket = req.socket;
  const socketFailed = () => socket.errored !== null && socket.errored !== undefined;
  const cut = (): RequestEnd => ({ bytes: 0, error: closeReasons.get(res) ?? 'client closed the connection', aborted: true, cause: 'client' });
  const finish = (end: RequestEnd) => {
    if (written || pending) return;
    if (end.aborted !== true && !res.writableFinished && !res.destroyed) {
      pending = end;
      return;
    }
    write(end);
  };
  // One listener: a response's 'close' always follows its 'finish' (each listener more is work on every request).
  res.once('close', () => {
    if (!res.writableFinished || closeReasons.has(res)) write(cut());
    else if (pending) write(socketFailed() ? cut() : pending);
  });
  return finish;
}
