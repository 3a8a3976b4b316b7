import type { IncomingMessage, ServerResponse } from 'node:http';

/** SPEC §8: the one reserved path of the public listener; never forwarded to the origin. */
export const HEALTH_PATH = '/.slimproxy/health';

export function isHealthRequest(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  return url === HEALTH_PATH || url.startsWith(`${HEALTH_PATH}?`);
}

/** Answers the health check; returns the body size for the request log. */
export function answerHealth(req: IncomingMessage, res: ServerResponse): number {
  const body = Buffer.from('{"status":"ok"}\n');
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return req.method === 'HEAD' ? 0 : body.length;
}
