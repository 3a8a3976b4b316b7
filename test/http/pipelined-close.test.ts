/**
 * Found by the hostile review of issue 16 (round 4): a client that pipelines requests and closes its connection
 * left the responses queued behind the first one open for ever (Node emits 'close' only on the one being sent):
 * each held its lent store body, its share of `max-buffered`, or its fetch from the origin; a few such
 * connections filled the memory budget and nothing was stored again until a restart. And a client reading a large
 * stored body slowly but steadily was cut as if it read nothing, once its rest was sent from a copy in one write.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { until } from '../support/until.js';

const IMAGE = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(24 * 2 ** 20)]);
const BLOB = randomBytes(30 * 2 ** 20);

/** Sends `count` requests for `path` on one connection, reads nothing, and closes it once the proxy is answering. */
function pipelineAndLeave(proxy: TestProxy, path: string, count: number, leaveWhen: () => Promise<boolean> | boolean): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(Number(proxy.url.port), proxy.url.hostname);
    socket.on('error', () => undefined);
    socket.pause();
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(count), () => {
      void until(leaveWhen, () => 'the proxy answering').then(() => {
        socket.destroy();
        resolve();
      });
    });
  });
}

describe('responses of pipelined requests on a connection that closes', () => {
  let origin: TestOrigin;
  /** Origin responses not yet closed (a fetch the proxy still holds open). */
  const open = new Set<ServerResponse>();
  before(async () => {
    origin = await startOrigin((req, res) => {
      open.add(res);
      res.on('close', () => open.delete(res));
      const image = req.url?.startsWith('/big.jpg');
      res.writeHead(200, { 'Content-Type': image ? 'image/jpeg' : 'application/octet-stream', 'Content-Length': image ? IMAGE.length : BLOB.length, 'Cache-Control': 'max-age=3600', ETag: '"v1"' });
      res.end(image ? IMAGE : BLOB);
    });
  });
  after(() => origin.close());

  it('a stored body: what each held (lent reads, buffered bytes) is given back', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'slimproxy-pipelined-')), 'store');
    const proxy = await startProxy({ origin: origin.url, elements: `<image-compression/><store path="${store}" max-size="1GiB"/><limits max-buffered="512MiB"/>` });
    try {
      assert.equal((await fetchRaw(new URL('/big.jpg?m=ic', proxy.url))).body.length, IMAGE.length);
      const gauge = async (name: 'storeLentReads' | 'bufferedBytes') => (await proxy.running.metrics[name].get()).values[0]?.value ?? 0;
      for (let round = 0; round < 3; round += 1) await pipelineAndLeave(proxy, '/big.jpg?m=ic', 4, async () => (await gauge('storeLentReads')) > 0);
      await until(async () => (await gauge('storeLentReads')) === 0 && (await gauge('bufferedBytes')) === 0, () => 'nothing lent or buffered once the connections are gone');
      // And the budget is whole: the next new original is stored, not streamed past it.
      const res = await fetchRaw(new URL('/big.jpg?m=ic&v=2', proxy.url));
      assert.equal(res.body.length, IMAGE.length);
      const unbuffered = (await proxy.running.metrics.unbuffered.get()).values.reduce((sum, v) => sum + v.value, 0);
      assert.equal(unbuffered, 0, 'nothing was streamed past the budget');
    } finally {
      await proxy.stop();
    }
  });

  it('a proxied body: the fetches from the origin are ended', async () => {
    const proxy = await startProxy({ origin: origin.url });
    try {
      await pipelineAndLeave(proxy, '/blob.bin', 10, () => open.size > 0);
      await until(() => open.size === 0, () => `${open.size} origin responses still open`);
    } finally {
      await proxy.stop();
    }
  });
});

describe('a client reading a large stored body slowly but steadily', () => {
  let origin: TestOrigin;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': IMAGE.length, 'Cache-Control': 'max-age=3600', ETag: '"v1"' });
      res.end(IMAGE);
    });
  });
  after(() => origin.close());

  it('gets it whole past the lending time, with an idle timeout shorter than the whole read', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'slimproxy-steady-')), 'store');
    const proxy = await startProxy({ origin: origin.url, listenAttributes: 'idle-timeout="2"', elements: `<image-compression/><store path="${store}" max-size="1GiB"/><limits max-buffered="512MiB"/>` });
    try {
      assert.equal((await fetchRaw(new URL('/big.jpg?m=ic', proxy.url))).body.length, IMAGE.length);
      // About 2.4 MB/s: 10 s for the body, the lending time (5 s) passed halfway, every 2 s well over 2 MB taken.
      const received = await new Promise<number>((resolve) => {
        const socket = connect(Number(proxy.url.port), proxy.url.hostname);
        socket.on('error', () => undefined);
        let bytes = 0;
        socket.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          socket.pause();
          setTimeout(() => socket.resume(), chunk.length / 2400);
        });
        socket.on('close', () => resolve(bytes));
        socket.write('GET /big.jpg?m=ic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      assert.ok(received > IMAGE.length, `the whole body came (${received} bytes with the head, of ${IMAGE.length})`);
    } finally {
      await proxy.stop();
    }
  });
});
