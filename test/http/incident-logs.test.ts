import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { freePort } from '../support/ports.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { type LogLine, PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The request line of the exchange that got `id`. */
function requestLine(proxy: TestProxy, id: string): LogLine {
  const line = proxy.logs.find((entry) => entry.msg === 'request' && entry.reqId === id);
  assert.ok(line, `a request line with reqId ${id}`);
  return line;
}

describe('logs that help during an incident (issue 16, acceptance 5)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let behindProxy: TestProxy;
  const crops: Buffer[] = [];
  before(async () => {
    // About 400 KB each: the smallest store (1 MiB) holds two or three.
    for (let i = 0; i < 6; i += 1) crops.push(await sharp(photo).resize(2400 + 16 * i).jpeg({ quality: 98 }).toBuffer());
    origin = await startOrigin((req, res) => {
      const crop = /^\/crop(\d)\.jpg$/.exec(req.url ?? '');
      if (crop) {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
        res.end(crops[Number(crop[1])]);
        return;
      }
      if (req.url?.startsWith('/broken')) {
        res.writeHead(500, { 'Content-Type': req.url.endsWith('.jpg') ? 'image/jpeg' : 'text/plain' });
        res.end('the origin failed');
        return;
      }
      // A CORS response naming the id header in a value (not having it): the id is still added.
      if (req.url === '/cors.txt') res.setHeader('Access-Control-Expose-Headers', 'X-Request-Id');
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('hello');
    });
    assert.ok(crops[0]!.length > 200_000, `${crops[0]!.length} bytes`);
    proxy = await startProxy({ origin: origin.url, elements: `<image-compression/><store path="${mkdtemp()}" max-size="1MiB"/>` });
    behindProxy = await startProxy({ origin: origin.url, listenAttributes: 'trusted-proxies="127.0.0.0/8 ::1"' });
  });
  after(async () => {
    await proxy.stop();
    await behindProxy.stop();
    await origin.close();
  });

  it('every request line has the request id (kept from X-Request-Id, else made) and the client address; the id goes back and on to the origin', async () => {
    const kept = await fetchRaw(new URL('/page.txt', proxy.url), { headers: { 'X-Request-Id': 'lb-7f3a.42' } });
    assert.equal(kept.headers['x-request-id'], 'lb-7f3a.42');
    assert.equal(origin.requests.at(-1)?.headers['x-request-id'], 'lb-7f3a.42', 'the origin sees the same id');
    assert.equal(requestLine(proxy, 'lb-7f3a.42').client, '127.0.0.1');

    const made = await fetchRaw(new URL('/page.txt', proxy.url));
    const id = String(made.headers['x-request-id']);
    assert.match(id, UUID);
    assert.equal(requestLine(proxy, id).path, '/page.txt');

    // Only a field named X-Request-Id counts as the origin's own id, not a value that says the name.
    const cors = await fetchRaw(new URL('/cors.txt', proxy.url), { headers: { 'X-Request-Id': 'cors-1' } });
    assert.equal(cors.headers['access-control-expose-headers'], 'X-Request-Id');
    assert.equal(cors.headers['x-request-id'], 'cors-1');

    // An id that is not a plain short token (spaces, a line break, too long) is replaced, not logged or echoed.
    for (const bad of ['two words', 'a'.repeat(129), 'x\u00e9']) {
      const res = await fetchRaw(new URL('/page.txt', proxy.url), { headers: { 'X-Request-Id': bad } });
      assert.match(String(res.headers['x-request-id']), UUID, JSON.stringify(bad));
    }
  });

  it('X-Forwarded-For names the client only when the peer is a trusted proxy, and only its trusted tail is skipped', async () => {
    // Not trusted: the socket's peer, whatever the header says.
    const direct = await fetchRaw(new URL('/page.txt', proxy.url), { headers: { 'X-Forwarded-For': '198.51.100.9' } });
    assert.equal(requestLine(proxy, String(direct.headers['x-request-id'])).client, '127.0.0.1');
    // Trusted (loopback): the nearest address that is not a trusted proxy; what a client wrote further left is not believed.
    const forwarded = await fetchRaw(new URL('/page.txt', behindProxy.url), { headers: { 'X-Forwarded-For': '198.51.100.9, 203.0.113.7, 127.0.0.5' } });
    assert.equal(requestLine(behindProxy, String(forwarded.headers['x-request-id'])).client, '203.0.113.7');
    const garbage = await fetchRaw(new URL('/page.txt', behindProxy.url), { headers: { 'X-Forwarded-For': 'not-an-address' } });
    assert.equal(requestLine(behindProxy, String(garbage.headers['x-request-id'])).client, '127.0.0.1');
  });

  const originFailures = async () => (await proxy.running.metrics.failures.get()).values.find((sample) => sample.labels.cause === 'origin')?.value ?? 0;

  it('failures say whose fault they were: the origin, the client', async () => {
    // The origin down: 502, cause origin.
    const closed = await freePort();
    const orphan = await startProxy({ origin: new URL(`http://127.0.0.1:${closed}/`) });
    try {
      const res = await fetchRaw(new URL('/page.txt', orphan.url));
      assert.equal(res.status, 502);
      const line = requestLine(orphan, String(res.headers['x-request-id']));
      assert.equal(line.cause, 'origin');
      assert.equal(line.level, 'warn');
    } finally {
      await orphan.stop();
    }
    // The origin's own 500, passed on (a page, an image): cause origin in the line and in the metric.
    const before = await originFailures();
    for (const path of ['/broken.txt', '/broken.jpg?m=ic', '/broken.jpg']) {
      const res = await fetchRaw(new URL(path, proxy.url));
      assert.equal(res.status, 500, path);
      assert.equal(res.body.toString(), 'the origin failed');
      const line = requestLine(proxy, String(res.headers['x-request-id']));
      assert.equal(line.cause, 'origin', path);
    }
    assert.equal((await originFailures()) - before, 3, "counted as the origin's failures");
    // A client that goes away before its response: cause client.
    await new Promise<void>((resolve) => {
      const req = httpRequest(new URL('/crop5.jpg?m=ic', proxy.url), { agent: false, headers: { 'X-Request-Id': 'gone-early' } });
      req.on('error', () => resolve());
      req.on('socket', (socket) => socket.on('connect', () => setImmediate(() => req.destroy())));
      req.end();
    });
    const deadline = Date.now() + 5000;
    while (!proxy.logs.some((line) => line.reqId === 'gone-early') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const gone = requestLine(proxy, 'gone-early');
    assert.equal(gone.cause, 'client');
  });

  it('one line per eviction pass, saying how many originals went and the bytes freed', async () => {
    for (let i = 0; i < 6; i += 1) assert.equal((await fetchRaw(new URL(`/crop${i}.jpg?m=ic`, proxy.url))).status, 200);
    await proxy.running.experimentsIdle();
    const evictions = proxy.logs.filter((line) => line.msg === 'store: evicted the least useful originals to stay within max-size');
    assert.ok(evictions.length >= 1, 'evictions are logged');
    for (const line of evictions) {
      assert.ok(Number(line.evictedOriginals) >= 1);
      assert.ok(Number(line.freedBytes) > 0);
      assert.ok(Number(line.storeBytes) > 0);
    }
  });
});

function mkdtemp(): string {
  return mkdtempSync(join(tmpdir(), 'slimproxy-logs-'));
}
