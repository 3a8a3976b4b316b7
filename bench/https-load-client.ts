/**
 * The HTTP/2 bench's load generator: the same client code for both protocols, so that only the protocol differs.
 * HTTP/2: one connection with `concurrency` streams in flight (a browser's way); HTTP/1.1: `concurrency`
 * keep-alive connections, one request in flight on each. Run as its own process (not on the proxy's event loop).
 * Usage: tsx bench/https-load-client.ts <h2|h1> <seconds> <concurrency> <headers as JSON> <url> [<url> …]
 *   → {"requests": per second, "total", "failed", "bytes"} as JSON.
 */
import { connect } from 'node:http2';
import { Agent, request } from 'node:https';

const [protocol, seconds, concurrency, headers, ...urls] = process.argv.slice(2);
const extra = JSON.parse(headers ?? '{}') as Record<string, string>;
const targets = urls.map((url) => new URL(url));
const deadline = performance.now() + Number(seconds) * 1000;
let total = 0;
let failed = 0;
let bytes = 0;
let next = 0;
const pick = () => targets[next++ % targets.length]!;

function h2Loop(session: ReturnType<typeof connect>): Promise<void> {
  return new Promise((resolve) => {
    const one = () => {
      if (performance.now() >= deadline) return resolve();
      const target = pick();
      const stream = session.request({ ':path': target.pathname + target.search, ...extra });
      let status = 0;
      stream.on('response', (head) => (status = Number(head[':status'])));
      stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
      stream.on('end', () => {
        total += 1;
        if (status >= 400 || status === 0) failed += 1;
        one();
      });
      stream.on('error', () => {
        failed += 1;
        one();
      });
    };
    one();
  });
}

function h1Loop(agent: Agent): Promise<void> {
  return new Promise((resolve) => {
    const one = () => {
      if (performance.now() >= deadline) return resolve();
      const req = request(pick(), { agent, headers: extra, rejectUnauthorized: false }, (res) => {
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => {
          total += 1;
          if ((res.statusCode ?? 0) >= 400) failed += 1;
          one();
        });
      });
      req.on('error', () => {
        failed += 1;
        one();
      });
      req.end();
    };
    one();
  });
}

const started = performance.now();
if (protocol === 'h2') {
  const session = connect(targets[0]!.origin, { rejectUnauthorized: false });
  session.on('error', () => undefined);
  await Promise.all(Array.from({ length: Number(concurrency) }, () => h2Loop(session)));
  session.close();
} else {
  const agent = new Agent({ keepAlive: true, maxSockets: Number(concurrency), rejectUnauthorized: false });
  await Promise.all(Array.from({ length: Number(concurrency) }, () => h1Loop(agent)));
  agent.destroy();
}
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ requests: total / elapsed, total, failed, bytes }));
