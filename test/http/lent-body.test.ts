/**
 * Large stored bodies are sent as views of the store's map (no copy); a client slower than the lending time gets the
 * rest from a copy and the view is given back early, so that no read snapshot is held for as long as a slow reader
 * takes (LMDB cannot reuse the pages it sees: the file would grow).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { endWithLent } from '../../src/http/lent-body.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy } from '../support/proxy.js';

const BODY = randomBytes(6 * 2 ** 20);
const LENT_MS = 300;

/** A view into a larger region, as the store lends (released: when and how often). */
function lentView(): { bytes: Buffer; inPlace: true; release: () => void; releases: number[] } {
  const region = Buffer.alloc(BODY.length + 4096);
  BODY.copy(region, 1024);
  const lent = { bytes: region.subarray(1024, 1024 + BODY.length), inPlace: true as const, releases: [] as number[], release: () => lent.releases.push(Date.now()) };
  return lent;
}

/** GET on a raw socket, paused for `pauseMs` after the first bytes; the body and when it ended. */
function slowGet(port: number, pauseMs: number): Promise<{ body: Buffer; endedAt: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const chunks: Buffer[] = [];
    let paused = false;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!paused && pauseMs > 0) {
        paused = true;
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      resolve({ body: all.subarray(all.indexOf('\r\n\r\n') + 4), endedAt: Date.now() });
    });
  });
}

describe('a body lent in place by the store', () => {
  let server: Server;
  let port: number;
  let current: ReturnType<typeof lentView>;
  before(async () => {
    server = createServer((_req, res) => {
      current = lentView();
      res.writeHead(200, { 'Content-Length': BODY.length });
      endWithLent(res, current, LENT_MS);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  it('a client that keeps up gets it whole, from the view (given back by the owner of the response, not here)', async () => {
    const { body } = await slowGet(port, 0);
    assert.ok(body.equals(BODY));
    assert.deepEqual(current.releases, []);
  });

  it('a client slower than the lending time gets it whole; the view is given back before its response ends', async () => {
    const { body, endedAt } = await slowGet(port, 3 * LENT_MS);
    assert.ok(body.equals(BODY), 'whole and the same bytes');
    assert.equal(current.releases.length, 1, 'given back once');
    assert.ok(current.releases[0]! < endedAt, 'while the client was still reading');
  });

  it('a client that goes away mid-body: no crash, the server goes on answering', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      socket.once('data', () => {
        socket.destroy();
        resolve();
      });
    });
    const { body } = await slowGet(port, 0);
    assert.ok(body.equals(BODY));
  });
});

/** Found by the hostile review: a client gone while its original's first read was being hashed kept it lent forever. */
describe('bytes lent to a response that closed before they were read are given back', () => {
  const STORED = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(24 * 2 ** 20)]);
  let origin: TestOrigin;
  let storePath: string;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': STORED.length, 'Cache-Control': 'max-age=3600', ETag: '"v1"' });
      res.end(STORED);
    });
    storePath = join(mkdtempSync(join(tmpdir(), 'slimproxy-lent-')), 'store');
  });
  after(() => origin.close());

  it('after a restart (the first read hashes the body over many turns), clients gone at once leave nothing lent', async () => {
    const elements = `<image-compression/><store path="${storePath}" max-size="1GiB"/><limits max-buffered="1GiB"/>`;
    const first = await startProxy({ origin: origin.url, elements });
    assert.equal((await fetchRaw(new URL('/big.jpg?m=ic', first.url))).body.length, STORED.length);
    await first.stop();
    const proxy = await startProxy({ origin: origin.url, elements });
    try {
      const lentNow = async () => (await proxy.running.metrics.storeLentReads.get()).values[0]?.value ?? 0;
      await Promise.all(
        Array.from({ length: 12 }, (_, i) => new Promise<void>((resolve) => {
          const socket = connect(Number(proxy.url.port), proxy.url.hostname);
          socket.on('error', () => undefined);
          socket.write('GET /big.jpg?m=ic HTTP/1.1\r\nHost: x\r\n\r\n', () => setTimeout(() => {
            socket.destroy();
            resolve();
          }, i * 3));
        })),
      );
      // Every answer is over (the bodies were never read); what was lent for them must all come back.
      const deadline = Date.now() + 15_000;
      while ((await lentNow()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await lentNow(), 0, 'nothing lent once the responses are gone');
      // And the body is still served whole.
      const again = await fetchRaw(new URL('/big.jpg?m=ic', proxy.url));
      assert.ok(again.body.equals(STORED));
    } finally {
      await proxy.stop();
    }
  });
});
