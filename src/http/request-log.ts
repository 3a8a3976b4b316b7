import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';

export type Route = 'health' | 'proxy' | 'marked' | 'image-api' | 'upgrade' | 'refused';

export interface RequestEnd {
  /** Body bytes sent to the client. */
  readonly bytes: number;
  /** Why the exchange went wrong, when it did (logged, and counted as "aborted" if the response was cut). */
  readonly error?: string;
  readonly aborted?: boolean;
}

/**
 * One JSON line per request (method, path, status, bytes, duration), written once however the exchange ends:
 * by its handler, or by the client going away first.
 */
export function beginRequestLog(
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  logger: Logger,
  metrics: Metrics,
): (end: RequestEnd) => void {
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
    const line = { method, path, status, bytes: end.bytes, ms: Math.round(ms * 10) / 10, route, ...(aborted ? { aborted } : {}) };
    if (end.error !== undefined || aborted || status >= 500) logger.warn({ ...line, error: end.error }, 'request');
    else logger.info(line, 'request');
  };
  // The handler reports a completed response itself; a connection that closes first still gets its line.
  res.once('close', () => {
    if (!res.writableFinished) finish({ bytes: 0, error: 'client closed the connection', aborted: true });
  });
  return finish;
}
