import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { dssim } from '../../src/images/dssim.js';
import { decodeRgba } from '../../src/images/rgba.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const logo = readFileSync(new URL('fixtures/site/img/logo.png', PROJECT_ROOT));
/** Above a quarter of a 1 MiB store: too large to keep there. */
const big = readFileSync(new URL('fixtures/site/img/hubble-deep-field.jpg', PROJECT_ROOT));

describe('serving marked images (SPEC §5)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let changingVersion = 1;
  before(async () => {
    origin = await startOrigin((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/photo.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: '"p1"', 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT', 'Cache-Control': 'max-age=3600' });
        res.end(photo);
      } else if (path === '/logo.png') {
        res.writeHead(200, { 'Content-Type': 'image/png', ETag: '"l1"', 'Cache-Control': 'max-age=60' });
        res.end(logo);
      } else if (path === '/cookie.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Set-Cookie': 'session=1', 'Cache-Control': 'max-age=60' });
        res.end(photo);
      } else if (path === '/big.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=60' });
        res.end(big);
      } else if (path === '/private.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'private, max-age=60' });
        res.end(photo);
      } else if (path === '/changing.jpg') {
        const etag = `"c${changingVersion}"`;
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { ETag: etag, 'Cache-Control': 'no-cache' });
          res.end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: etag, 'Cache-Control': 'no-cache' });
        res.end(changingVersion === 1 ? photo : Buffer.concat([photo, Buffer.from([0])]));
      } else if (path === '/page.html') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<p>not an image</p>');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression preset="balanced"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetchRaw(new URL(path, proxy.url), { headers: { 'Accept-Encoding': 'gzip', ...headers } });

  it('a JPEG for ic,webp,avif: the original first, smaller after each experiment, then final and public', async () => {
    const first = await get('/photo.jpg?m=ic,webp,avif');
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, photo);
    assert.equal(first.headers['cache-control'], 'private, no-transform, max-age=60');
    assert.match(String(first.headers['x-slimproxy-image']), /^experiment=original/);
    assert.equal(first.headers['last-modified'], 'Wed, 21 Oct 2015 07:28:00 GMT');
    let previous = first.body.length;
    let last = first;
    // The plan for this mark: AVIF, then WebP (no JPEG: where WebP is allowed it cannot be the smallest).
    for (let i = 0; i < 2; i += 1) {
      await proxy.running.experimentsIdle();
      last = await get('/photo.jpg?m=ic,webp,avif');
      assert.ok(last.body.length <= previous, `request ${i + 2}: ${last.body.length} > ${previous}`);
      previous = last.body.length;
    }
    assert.equal(last.headers['cache-control'], 'public, no-transform, max-age=3600');
    assert.match(String(last.headers['content-type']), /^image\/(jpeg|webp|avif)$/);
    assert.ok(last.body.length < photo.length);
    const measured = dssim(await decodeRgba(photo), await decodeRgba(last.body));
    assert.ok(measured <= 0.002, `DSSIM ${measured}`);
    assert.equal(origin.requests.filter((r) => r.url === '/photo.jpg').length, 1, 'fresh for an hour: fetched once');
    assert.ok(!origin.requests.some((r) => r.url?.includes('m=ic')), 'the origin never sees a mark');

    const metrics = proxy.running.metrics;
    const count = async (metric: typeof metrics.experiments | typeof metrics.imageResponses, labels: Record<string, string>) =>
      (await metric.get()).values
        .filter((v) => Object.entries(labels).every(([k, value]) => (v.labels as Record<string, string | number | undefined>)[k] === value))
        .reduce((sum, v) => sum + v.value, 0);
    assert.equal(await count(metrics.experiments, {}), 2, 'two experiments ran, once each');
    assert.ok((await count(metrics.imageResponses, { outcome: 'variant' })) >= 1);
    assert.ok((await count(metrics.imageResponses, { outcome: 'original' })) >= 1);

    const notModified = await get('/photo.jpg?m=ic,webp,avif', { 'If-None-Match': String(last.headers.etag) });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['cache-control'], 'public, no-transform, max-age=3600');
    assert.equal(notModified.headers.etag, last.headers.etag);
  });

  it('a transparent PNG for ic never gets a format the mark does not allow', async () => {
    let last = await get('/logo.png?m=ic');
    for (let i = 0; i < 3; i += 1) {
      await proxy.running.experimentsIdle();
      last = await get('/logo.png?m=ic');
    }
    assert.equal(last.headers['content-type'], 'image/png');
    assert.ok(last.body.length < logo.length);
    assert.equal(last.headers['cache-control'], 'public, no-transform, max-age=60');
  });

  it('passes a private response through unmodified and keeps nothing', async () => {
    const res = await get('/private.jpg?m=ic,webp');
    assert.equal(res.headers['cache-control'], 'private, max-age=60');
    assert.deepEqual(res.body, photo);
    await get('/private.jpg?m=ic,webp');
    assert.equal(origin.requests.filter((r) => r.url === '/private.jpg').length, 2);
  });

  it('a transparent PNG for ic,zorro ends as the smallest of PNG and ZorroSVG, within d', async () => {
    let last = await get('/logo.png?m=ic,zorro');
    for (let i = 0; i < 4; i += 1) {
      await proxy.running.experimentsIdle();
      last = await get('/logo.png?m=ic,zorro');
    }
    assert.match(String(last.headers['content-type']), /^image\/(png|svg\+xml)$/);
    assert.equal(last.headers['cache-control'], 'public, no-transform, max-age=60');
    assert.ok(last.body.length < logo.length);
    assert.match(String(last.headers['x-slimproxy-image']), /experiment=(png-palette|png-lossless|zorro)/);
    const body = last.headers['content-encoding'] === 'gzip' ? gunzipSync(last.body) : last.body;
    const measured = dssim(await decodeRgba(logo), await decodeRgba(body));
    assert.ok(measured <= 0.002, `DSSIM ${measured}`);
  });

  it('passes a response with Set-Cookie, and a request with Authorization, through without keeping them', async () => {
    const cookie = await get('/cookie.jpg?m=ic,webp');
    assert.equal(cookie.headers['set-cookie']?.[0], 'session=1');
    assert.deepEqual(cookie.body, photo);
    await get('/cookie.jpg?m=ic,webp');
    assert.equal(origin.requests.filter((r) => r.url === '/cookie.jpg').length, 2, 'not kept: asked again');
    const before = origin.requests.length;
    const authorized = await get('/photo.jpg?m=ic,webp,avif', { Authorization: 'Basic dTpw' });
    assert.deepEqual(authorized.body, photo, 'the original, not a stored variant');
    assert.equal(authorized.headers['x-slimproxy-image'], undefined);
    assert.equal(origin.requests.length, before + 1);
    assert.equal(origin.requests.at(-1)?.headers.authorization, 'Basic dTpw');
  });

  it('optimises an unmarked image in place by its Accept header (SPEC §7)', async () => {
    const chrome = { Accept: 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8' };
    let last = await get('/photo.jpg', chrome);
    for (let i = 0; i < 3; i += 1) {
      await proxy.running.experimentsIdle();
      last = await get('/photo.jpg', chrome);
    }
    assert.match(String(last.headers['content-type']), /^image\/(webp|avif)$/);
    assert.equal(last.headers['cache-control'], 'private, no-transform, max-age=3600');
    assert.equal(last.headers.vary, 'Accept');
    let plain = await get('/photo.jpg', { Accept: '*/*' });
    await proxy.running.experimentsIdle();
    plain = await get('/photo.jpg', { Accept: '*/*' });
    assert.equal(plain.headers['content-type'], 'image/jpeg');
    assert.equal(plain.headers.vary, 'Accept');
    assert.ok(plain.body.length < photo.length);
  });

  it('forwards an original too large for the store as it is', async () => {
    const small = await startProxy({
      origin: origin.url,
      elements: `<image-compression/><store path="${mkdtempSync(join(tmpdir(), 'slimproxy-small-'))}" max-size="1MiB"/>`,
    });
    try {
      const before = origin.requests.length;
      const res = await fetchRaw(new URL('/big.jpg?m=ic', small.url));
      assert.equal(res.status, 200);
      assert.ok(res.complete);
      assert.deepEqual(res.body, big);
      assert.equal(res.headers['x-slimproxy-image'], undefined);
      assert.ok(origin.requests.length - before <= 2);
    } finally {
      await small.stop();
    }
  });

  it('passes what is not an image through with a reason', async () => {
    const res = await get('/page.html?m=ic');
    assert.equal(res.headers['x-slimproxy-skip'], 'not an image (by its first bytes): passed through, not stored');
    assert.equal(res.body.toString(), '<p>not an image</p>');
  });

  it('a changed original (new ETag) is served at once, its old variants gone', async () => {
    await get('/changing.jpg?m=ic');
    await proxy.running.experimentsIdle();
    const optimised = await get('/changing.jpg?m=ic');
    assert.ok(optimised.body.length < photo.length, 'a variant was served');
    changingVersion = 2;
    const changed = await get('/changing.jpg?m=ic');
    assert.equal(changed.body.length, photo.length + 1, 'the new original');
    assert.equal(changed.headers['cache-control'], 'private, no-transform, no-cache', 'the origin says no-cache: so does the interim response');
  });
});
