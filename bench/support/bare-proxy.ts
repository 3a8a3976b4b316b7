/**
 * The outside reference of the request-path bench (issue 18): http-proxy-3 passing everything to the origin, as
 * its README shows it, with a keep-alive agent. Run as its own process; prints `{"url": …}` when listening.
 * Usage: tsx bench/support/bare-proxy.ts <origin URL>
 */
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';

const proxy = createProxyServer({ target: process.argv[2], agent: new Agent({ keepAlive: true }) });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});
const server = createServer((req, res) => proxy.web(req, res));
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` })}\n`));
// Exits on a signal through `process.exit`, so that a CPU profile (--cpu-prof) is written.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));
