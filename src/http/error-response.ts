import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';

/**
 * A short plain-text error answered by the proxy itself (502, 504, 400). Never cached: the next request should
 * try the origin again. Returns the body size for the request log.
 */
export function answerError(res: ServerResponse, status: number, explanation: string): number {
  const body = Buffer.from(`${status} ${STATUS_CODES[status] ?? ''}: ${explanation}\n`);
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
  });
  res.end(body);
  return body.length;
}
