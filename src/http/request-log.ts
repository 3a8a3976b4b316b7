import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { requestContext } from './request-context.js';

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
  const startedAt = process.hrtime.bigint();
  const method = req.method ?? '';
  const path = req.url ?? '';
  let written = false;
  const finish = (end: RequestEnd) => {
    if (written) return;
    written = true;
    const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
    const aborted = end.aborted === true || !res.writableFinished;
    const status = res.headersSent ? res.statusCode : 0;
    const outcome = aborted ? 'aborted' : `${Math.floor(status / 100)}xx`;
    metrics.requests.inc({ route, outcome });
    metrics.requestDuration.observe({ route }, ms / 1000);
    metrics.clientBytes.inc(end.bytes);
    const line = { ...(context ? { reqId: context.id, client: context.client } : {}), method, path, status, bytes: end.bytes, ms: Math.round(ms * 10) / 10, route, ...(aborted ? { aborted } : {}) };
    if (end.cause !== undefined) metrics.failures.inc({ cause: end.cause });
    if (end.error !== undefined || aborted || status >= 500) logger.warn({ ...line, error: end.error, cause: end.cause ?? (aborted ? 'client' : 'proxy') }, 'request');
    else logger.info(line, 'request');
  };
  // The handler reports a completed response itself; a connection that closes first still gets its line.
  res.once('close', () => {
    if (!res.writableFinished) finish({ bytes: 0, error: 'client closed the connection', aborted: true, cause: 'client' });
  });
  return finish;
}
