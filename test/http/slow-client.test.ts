import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { type LogLine, startProxy, type TestProxy } from '../support/proxy.js';

/** Larger than the store lets the proxy hold (max-size 8 MiB: originals up to 2 MiB), so it streams through. */
const BIG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(12 * 2 ** 20)]);
const ORIGIN_TIMEOUT_S = 0.3;
const IDLE_TIMEOUT_S = 4;

interface RawExchange {
  readonly socket: Socket;
  /** Everything received, head and body, once the connection ends. */
  readonly received: Promise<Buffer>;
}

/** A GET on a raw socket that takes bytes only when told to (`socket.pause()`/`resume()`). */
function rawGet(url: URL, path: string): RawExchange {
  const socket = connect(Number(url.port), url.hostname);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  const received = new Promise<Buffer>((resolve) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
  return { socket, received };
}

function bodyOf(response: Buffer): Buffer {
  const end = response.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'a response head');
  return response.subarray(end + 4);
}

/** Found by the hostile review of issue 16: a client that held back was cut by the origin's timeout, blamed on the origin. */
describe('a client that reads slowly is not cut by the origin timeout; one that reads nothing is dropped as its own fault', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'Content-Type': req.url?.startsWith('/big.jpg') ? 'image/jpeg' : 'application/octet-stream', 'Content-Length': BIG.length, 'Cache-Control': 'max-age=60' });
      res.end(BIG);
    });
    proxy = await startProxy({
      origin: origin.url,
      originAttributes: `timeout="${ORIGIN_TIMEOUT_S}"`,
      listenAttributes: `idle-timeout="${IDLE_TIMEOUT_S}"`,
      elements: `<image-compression/><store path="${mkdtempSync(join(tmpdir(), 'slimproxy-slow-'))}" max-size="8MiB"/>`,
    });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  // Paused for many origin timeouts, well within the idle timeout; then read to the end.
  for (const path of ['/big.jpg?m=ic,webp', '/big.jpg', '/big.bin']) {
    it(`${path}: the whole body after a pause of 5 origin timeouts`, async () => {
      const exchange = rawGet(proxy.url, path);
      await new Promise<void>((resolve) => exchange.socket.once('data', () => resolve()));
      exchange.socket.pause();
      await new Promise((resolve) => setTimeout(resolve, ORIGIN_TIMEOUT_S * 5000));
      exchange.socket.resume();
      const body = bodyOf(await exchange.received);
      assert.equal(body.length, BIG.length, 'whole');
      assert.ok(body.equals(BIG));
    });
  }

  it('a client that reads nothing is dropped after the idle timeout, and its request line says so (id, client, cause client)', async () => {
    const exchange = rawGet(proxy.url, '/big.bin');
    await new Promise<void>((resolve) => exchange.socket.once('data', () => resolve()));
    exchange.socket.pause();
    // A paused socket hears nothing of its end: the proxy's request line says when it dropped the client.
    const requestLine = () => proxy.logs.findLast((entry: LogLine) => entry.msg === 'request' && entry.path === '/big.bin' && entry.aborted === true);
    const deadline = Date.now() + IDLE_TIMEOUT_S * 1000 + 20_000;
    while (!requestLine() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const line = requestLine();
    assert.ok(line, 'a request line');
    exchange.socket.resume();
    assert.ok(bodyOf(await exchange.received).length < BIG.length, 'the response was cut');
    assert.equal(line.cause, 'client');
    assert.match(String(line.error), /idle timeout/);
    assert.equal(typeof line.reqId, 'string');
    assert.equal(line.client, '127.0.0.1');
    const dropped = proxy.logs.find((entry) => String(entry.msg).startsWith('client read nothing'));
    assert.equal(dropped?.reqId, line.reqId, 'the drop line carries the request id');
  });
});

/** Found by the hostile review of large bodies lent from the store: a client could keep its response by sending bytes. */
describe('a client that takes none of its response is dropped after the idle timeout, whatever it sends meanwhile', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': BIG.length });
      res.end(BIG);
    });
    proxy = await startProxy({ origin: origin.url, listenAttributes: `idle-timeout="${IDLE_TIMEOUT_S}"` });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('sending a line break every half second does not keep a stalled response', async () => {
    const exchange = rawGet(proxy.url, '/trickle.bin');
    await new Promise<void>((resolve) => exchange.socket.once('data', () => resolve()));
    exchange.socket.pause();
    // Bytes between requests, which the HTTP parser skips: activity for the socket's own timeout.
    const trickle = setInterval(() => exchange.socket.write('\r\n'), 500);
    const dropped = () => proxy.logs.find((entry) => String(entry.msg).startsWith('client read nothing for the idle timeout'));
    const deadline = Date.now() + IDLE_TIMEOUT_S * 1000 + 20_000;
    while (!dropped() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    clearInterval(trickle);
    assert.ok(dropped(), 'dropped, with its line');
    assert.equal(dropped()?.cause, 'client');
    exchange.socket.resume();
    assert.ok(bodyOf(await exchange.received).length < BIG.length, 'the response was cut');
  });
});

/** Found by the hostile review of issue 16: a large answer from the store was logged as cut by the client. */
describe('a large answer from the store is logged once its last byte is written: complete when it was, cut when the client dropped', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': BIG.length, 'Cache-Control': 'max-age=600' });
      res.end(BIG);
    });
    proxy = await startProxy({ origin: origin.url, listenAttributes: `idle-timeout="${IDLE_TIMEOUT_S}"`, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });
  const clientFailures = async () => (await proxy.running.metrics.failures.get()).values.find((sample) => sample.labels.cause === 'client')?.value ?? 0;
  /** A request's line: written once its last byte is handed to the socket, which may be just after the client has it. */
  const lineOf = async (id: string) => {
    const find = () => proxy.logs.find((entry) => entry.msg === 'request' && entry.reqId === id);
    const deadline = Date.now() + 10_000;
    while (!find() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return find();
  };

  it('read whole: one info line, not aborted, no failure counted', async () => {
    // The first answer stores it; the next ones come from the store.
    for (let i = 0; i < 3; i += 1) {
      const res = await fetchRaw(new URL('/stored.jpg?m=ic,webp', proxy.url));
      assert.equal(res.body.length, BIG.length);
      const line = await lineOf(String(res.headers['x-request-id']));
      assert.ok(line, 'its request line');
      assert.equal(line.aborted, undefined, JSON.stringify(line));
      assert.equal(line.level, 'info');
      assert.equal(line.bytes, BIG.length);
    }
    assert.equal(await clientFailures(), 0);
  });

  it('never read: its line says it was cut, after the idle timeout', async () => {
    const exchange = rawGet(proxy.url, '/stored.jpg?m=ic,webp');
    await new Promise<void>((resolve) => exchange.socket.once('data', () => resolve()));
    exchange.socket.pause();
    const line = () => proxy.logs.findLast((entry: LogLine) => entry.msg === 'request' && entry.aborted === true);
    const deadline = Date.now() + IDLE_TIMEOUT_S * 1000 + 20_000;
    while (!line() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(String(line()?.error), /idle timeout/, JSON.stringify(proxy.logs.slice(-6)));
    assert.equal(line()?.cause, 'client');
    exchange.socket.destroy();
  });
  it('reset by the client part way: its line says it was cut, by the client (read from the socket, no listener per request)', async () => {
    for (let round = 0; round < 3; round += 1) {
      const exchange = rawGet(proxy.url, '/stored.jpg?m=ic,webp');
      const head = await new Promise<string>((resolve) => exchange.socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
      const id = /x-request-id: ([^\r\n]+)/i.exec(head)?.[1];
      assert.ok(id, 'the response names its request id');
      exchange.socket.resetAndDestroy();
      const line = await lineOf(id);
      assert.ok(line, 'its request line');
      assert.equal(line.aborted, true, JSON.stringify(line));
      assert.equal(line.cause, 'client');
      assert.ok(Number(line.bytes) < BIG.length);
    }
  });
});
