import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const MAX_SIZE = 2 * 2 ** 20;
const REAL = 10;
const ONE_OFF = 40;

/** A JPEG of noise (which does not compress): `seed` makes each one different. */
function noisyJpeg(width: number, height: number, seed: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i += 1) raw[i] = (i * 7919 + (i >> 5) * (31 + seed)) & 255;
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/*
 * Hostile review (item 3 of the hosts review): one client's image-API option sets of one image, each asked once,
 * pushed every image the site's pages request repeatedly out of the store. Every option set counted as a request
 * of the one original and its bytes were charged to it, so they all sat in the main segment with it.
 */
describe('image-API option sets are admitted on their own: one-off ones cannot push out images requested repeatedly (SPEC §8)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const images = new Map<string, Buffer>();
  before(async () => {
    // Ten ~50 KB real images and a ~230 KB one whose transforms (q=100) are 200–350 KB each: 40 of them are six
    // times the 2 MiB store, the real ones with their variants about half of it.
    for (let i = 0; i < REAL; i += 1) images.set(`/real${i}.jpg`, await noisyJpeg(300, 225, i));
    images.set('/big.jpg', await noisyJpeg(640, 480, 99));
    origin = await startOrigin((req, res) => {
      const bytes = images.get(new URL(req.url ?? '/', 'http://origin/').pathname);
      res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
      res.end(bytes);
    });
    const path = mkdtempSync(join(tmpdir(), 'slimproxy-api-admission-'));
    proxy = await startProxy({
      origin: origin.url,
      elements: `<image-compression/><image-api enabled="true" max-queue="1000"/><store path="${path}" max-size="${MAX_SIZE}"/><limits max-image-processes="2"/>`,
    });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  const storeBytes = async () => (await proxy.running.metrics.storeBytes.get()).values[0]?.value ?? 0;
  const fetchesOf = (prefix: string) => origin.requests.filter((r) => r.url.startsWith(prefix)).length;

  it(`${ONE_OFF} one-off option sets of one image: the ${REAL} images requested twice and an option set requested twice stay stored, within max-size`, async () => {
    for (let round = 0; round < 2; round += 1) {
      for (let i = 0; i < REAL; i += 1) assert.equal((await fetchRaw(new URL(`/real${i}.jpg?m=ic`, proxy.url))).status, 200);
      await proxy.running.experimentsIdle();
    }
    // An option set the site's pages use, asked for twice.
    for (let round = 0; round < 2; round += 1) {
      const res = await fetchRaw(new URL('/big.jpg?size=320', proxy.url));
      assert.equal(res.status, 200);
      assert.match(String(res.headers['x-slimproxy-image']), /320/);
    }
    const realFetches = fetchesOf('/real');
    const storedBefore = await storeBytes();
    assert.ok(storedBefore <= MAX_SIZE, `store at ${storedBefore} before the flood`);

    // The flood: every URL a new option set, none asked for again.
    for (let n = 0; n < ONE_OFF; n += 1) {
      const res = await fetchRaw(new URL(`/big.jpg?size=${639 - n}&q=100`, proxy.url));
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'image/jpeg');
      const stored = await storeBytes();
      assert.ok(stored <= MAX_SIZE, `store at ${stored} bytes after option set ${n}, over its ${MAX_SIZE}`);
    }
    const evicted = (await proxy.running.metrics.storeEvictions.get()).values[0]?.value ?? 0;

    for (let i = 0; i < REAL; i += 1) assert.equal((await fetchRaw(new URL(`/real${i}.jpg?m=ic`, proxy.url))).status, 200);
    assert.equal(fetchesOf('/real') - realFetches, 0, `real images fetched again from the origin (${evicted} originals evicted): the flood pushed them out`);

    // The option set requested twice is still kept: served without being made again (no transform CPU spent).
    const transformCpu = async () => (await proxy.running.metrics.experimentCpu.get()).values.find((v) => v.labels.experiment === 'transform')?.value ?? 0;
    const cpuBefore = await transformCpu();
    const kept = await fetchRaw(new URL('/big.jpg?size=320', proxy.url));
    assert.equal(kept.status, 200);
    assert.match(String(kept.headers['x-slimproxy-image']), /320/);
    assert.equal(await transformCpu(), cpuBefore, 'the option set requested twice was made again: it was evicted by one-off ones');
    assert.equal(fetchesOf('/big.jpg'), 1, 'the image of the option sets was fetched once');
  });
});
