import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const MiB = 2 ** 20;

describe('the store stays within max-size through the proxy (SPEC §8)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const images = new Map<string, Buffer>();
  before(async () => {
    // 60 MB of originals: 30 noisy 2.3 MB PNGs (noise does not compress), each different.
    for (let i = 0; i < 30; i += 1) {
      const png = await sharp({ create: { width: 1024, height: 768, channels: 3, background: { r: i * 8, g: 128, b: 128 }, noise: { type: 'gaussian', mean: 100 + i, sigma: 40 } } })
        .png({ compressionLevel: 1 })
        .toBuffer();
      images.set(`/big${i}.png`, png);
    }
    origin = await startOrigin((req, res) => {
      const bytes = images.get(req.url ?? '');
      res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/png', 'Cache-Control': 'max-age=600' });
      res.end(bytes);
    });
    const storePath = mkdtempSync(join(tmpdir(), 'slimproxy-bound-'));
    proxy = await startProxy({
      origin: origin.url,
      elements: `<image-compression/><store path="${storePath}" max-size="20MiB"/><limits max-image-processes="1"/>`,
    });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  it('with max-size 20 MiB and 60 MB of originals requested, it stays under the bound and keeps the recent ones', async () => {
    const total = [...images.values()].reduce((sum, b) => sum + b.length, 0);
    assert.ok(total > 55 * MiB, `${(total / MiB).toFixed(1)} MiB of originals`);
    for (const path of images.keys()) {
      const res = await fetchRaw(new URL(`${path}?m=ic`, proxy.url));
      assert.equal(res.status, 200);
      const stored = (await proxy.running.metrics.storeBytes.get()).values[0]?.value ?? 0;
      assert.ok(stored <= 20 * MiB, `store at ${(stored / MiB).toFixed(1)} MiB after ${path}`);
    }
    const fetchesBefore = origin.requests.length;
    for (const path of ['/big29.png', '/big28.png', '/big27.png']) await fetchRaw(new URL(`${path}?m=ic`, proxy.url));
    assert.equal(origin.requests.length, fetchesBefore, 'the most recently requested are still in the store');
    await fetchRaw(new URL('/big0.png?m=ic', proxy.url));
    assert.equal(origin.requests.length, fetchesBefore + 1, 'the least recently requested went first');
  });
});
