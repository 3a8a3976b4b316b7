import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));

describe('interval caching and no-store', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((req, res) => {
      const cacheControl = req.url === '/no-store.jpg' ? 'no-store' : 'no-cache';
      res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: '"x"', 'Cache-Control': cacheControl });
      res.end(photo);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/><interval-caching seconds="600"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  it('keeps originals fresh for the interval without asking the origin, and says so to caches', async () => {
    let last = await fetchRaw(new URL('/interval.jpg?m=ic', proxy.url));
    for (let i = 0; i < 2; i += 1) {
      await proxy.running.experimentsIdle();
      last = await fetchRaw(new URL('/interval.jpg?m=ic', proxy.url));
    }
    assert.equal(origin.requests.filter((r) => r.url === '/interval.jpg').length, 1, 'the origin said no-cache, the interval wins');
    assert.equal(last.headers['cache-control'], 'public, no-transform, max-age=600, s-maxage=600');
  });

  it('passes a no-store response through and keeps nothing', async () => {
    const first = await fetchRaw(new URL('/no-store.jpg?m=ic', proxy.url));
    await fetchRaw(new URL('/no-store.jpg?m=ic', proxy.url));
    assert.equal(first.headers['cache-control'], 'no-store');
    assert.deepEqual(first.body, photo);
    assert.equal(origin.requests.filter((r) => r.url === '/no-store.jpg').length, 2);
  });
});
