import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const jpeg = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));

/** Found by the hostile review of issue 16: `max-buffered` leaked, until every image streamed through unstored. */
describe('the max-buffered budget is given back however an exchange ends', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let slowDone: Promise<void>;
  before(async () => {
    let slowEnded: () => void = () => undefined;
    slowDone = new Promise((resolve) => (slowEnded = resolve));
    origin = await startOrigin((req, res) => {
      if (req.url?.startsWith('/slow')) {
        // A whole image, slowly: the client is gone long before its end.
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': jpeg.length, 'Cache-Control': 'max-age=60' });
        let at = 0;
        const timer = setInterval(() => {
          res.write(jpeg.subarray(at, at + 20_000));
          at += 20_000;
          if (at >= jpeg.length) {
            clearInterval(timer);
            res.end(slowEnded);
          }
        }, 50);
        return;
      }
      // A body longer than its Content-Length: the proxy's parser fails on the request, not the response.
      req.socket.write(`HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length - 500}\r\n\r\n`);
      req.socket.end(jpeg);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });
  // Final answers kept for repeats hold their share of the budget on purpose: what is asked for is what is in flight.
  const kept = async () => (await proxy.running.metrics.keptAnswers.get()).values.find((value) => value.labels.what === 'bytes')?.value ?? 0;
  const held = async () => ((await proxy.running.metrics.bufferedBytes.get()).values[0]?.value ?? 0) - (await kept());

  it('a client that leaves while the original is fetched', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest(new URL('/slow.jpg?m=ic,webp', proxy.url), { agent: false });
      req.on('error', () => resolve());
      req.on('socket', (socket) => socket.on('connect', () => setTimeout(() => req.destroy(), 100)));
      req.end();
    });
    await slowDone;
    // The proxy stores what it fetched a moment after the origin's last byte: given back by then (before the fix:
    // never).
    const deadline = Date.now() + 5000;
    while ((await held()) !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await held(), 0);
    await proxy.running.experimentsIdle();
  });

  // Hostile review, round 2: this was a 502 for images and a cut file; browsers show the declared bytes.
  it('an origin body longer than it said: the declared bytes, as a browser shows them, and the budget given back', async () => {
    for (const path of ['/long0.jpg?m=ic', '/long1.jpg?m=ic', '/long1.jpg?m=ic', '/long2.jpg', '/long3.bin']) {
      const res = await fetchRaw(new URL(path, proxy.url));
      assert.equal(res.status, 200, path);
      assert.ok(res.body.equals(jpeg.subarray(0, jpeg.length - 500)), `${path}: ${res.body.length} bytes`);
      assert.equal(await held(), 0);
    }
  });
});
