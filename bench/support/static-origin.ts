/**
 * The bench's origin when Debian's nginx is not installed: the files under <root> with `send` (ETag,
 * Last-Modified, conditional requests); under /fresh/ with `Cache-Control: max-age=3600`, elsewhere with no
 * freshness at all, as most legacy servers send. Own process; prints `{"url": …}` when listening.
 * Usage: tsx bench/support/static-origin.ts <root>
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import send from 'send';

const root = process.argv[2]!;
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://origin/').pathname;
  const fresh = path.startsWith('/fresh/');
  send(req, path, { root, ...(fresh ? { maxAge: 3600_000 } : { cacheControl: false }) })
    .on('error', (err: { status?: number }) => res.writeHead(err.status ?? 500).end())
    .pipe(res);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` })}\n`));
