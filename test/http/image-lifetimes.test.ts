import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ageOf, imageCacheControl } from '../../src/http/image-headers.js';
import type { OriginalRecord } from '../../src/store/records.js';
import { type ClientResponse, fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

// Found by the hostile review of caches and HTTP semantics (items 6, 7 and 8); each failed before its fix.
const photoA = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));
const photoB = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>');
const PAST = 'Thu, 01 Jan 2015 00:00:00 GMT';

/** What a cache downstream has left of a response's lifetime (RFC 9111 §4.2.1, §4.2.3), in seconds. */
function secondsLeft(response: ClientResponse): number {
  const maxAge = /max-age=(\d+)/.exec(String(response.headers['cache-control']))?.[1];
  assert.ok(maxAge !== undefined, `a max-age in ${String(response.headers['cache-control'])}`);
  assert.match(String(response.headers.age), /^\d+$/, 'an Age');
  return Number(maxAge) - Number(response.headers.age);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('lifetimes of image answers before final (RFC 9111 §4.2)', () => {
  const at = 1_000_000_000_000;
  const record = (fields: Partial<OriginalRecord>): OriginalRecord => ({ url: '/a.jpg', digest: 'd', size: 1, contentType: 'image/jpeg', validatedAt: at, ...fields });
  const interim = { final: false, inPlace: false, intervalSeconds: 0, interimSeconds: 60 };
  const past = new Date(at - 86_400_000).toUTCString();
  const left = (of: OriginalRecord, now: number) => Number(/max-age=(\d+)/.exec(imageCacheControl(of, interim, now))?.[1]) - ageOf(of, now)!;

  it('never longer than what the origin leaves: an Expires past or no date, an Age near max-age, no-cache', () => {
    for (const fields of [{ expires: past }, { expires: '0' }, { expires: '' }, { cacheControl: 'public', expires: past }, { cacheControl: 'no-cache' }, { cacheControl: 'max-age=60', age: 60 }]) {
      assert.equal(imageCacheControl(record(fields), interim, at), 'private, no-transform, no-cache', JSON.stringify(fields));
    }
    assert.equal(left(record({ cacheControl: 'max-age=60', age: 55 }), at), 5, '60 s, 55 of them gone in a cache before the origin');
    assert.equal(left(record({ cacheControl: 'max-age=60' }), at + 50_000), 10, '60 s, 50 of them gone in the store');
    assert.equal(left(record({ expires: new Date(at + 30_000).toUTCString(), age: 10 }), at + 5_000), 25, 'an Expires 25 s from now');
    assert.equal(imageCacheControl(record({ cacheControl: 'max-age=60' }), interim, at + 61_000), 'private, no-transform, no-cache', 'stale (served while the origin is unreachable)');
  });

  it('otherwise interim-max-age from now, whatever the age', () => {
    assert.equal(imageCacheControl(record({ cacheControl: 'max-age=600' }), interim, at), 'private, no-transform, max-age=60');
    assert.equal(left(record({ cacheControl: 'max-age=600', age: 100 }), at + 30_000), 60);
    assert.equal(left(record({ lastModified: past }), at + 90_000), 60, 'only Last-Modified: the origin gives no lifetime to cap it');
    assert.equal(left(record({ cacheControl: 's-maxage=0, max-age=3600' }), at), 60, 's-maxage is for shared caches, not the browser');
    assert.equal(imageCacheControl(record({ cacheControl: 'max-age=600' }), { ...interim, interimSeconds: 0 }, at), 'private, no-transform, no-cache');
  });
});

describe('the age of image answers, and 304s that name other bytes (hostile review of caches)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let changed = false;
  before(async () => {
    origin = await startOrigin((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/logo.svg') {
        res.writeHead(200, { 'Content-Type': 'image/svg+xml', ETag: '"s"', 'Cache-Control': 'public, max-age=600' }).end(svg);
      } else if (path === '/cdn.svg') {
        // Behind a CDN that has held it for 100 of its 600 seconds.
        res.writeHead(200, { 'Content-Type': 'image/svg+xml', Age: '100', 'Cache-Control': 'public, max-age=600' }).end(svg);
      } else if (path === '/aged.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', Age: '55', 'Cache-Control': 'max-age=60' }).end(photoA);
      } else if (path === '/past.jpg' || path === '/zero.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Last-Modified': PAST, Expires: path === '/past.jpg' ? PAST : '0' }).end(photoA);
      } else if (path === '/strong.jpg' || path === '/weak.jpg') {
        // A sloppy origin: the image changed, and any conditional request is answered 304 with the new tag.
        const etag = `${path === '/weak.jpg' ? 'W/' : ''}"${changed ? 'b' : 'a'}"`;
        if (req.headers['if-none-match'] !== undefined) res.writeHead(304, { ETag: etag, 'Cache-Control': 'no-cache' }).end();
        else res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: etag, 'Cache-Control': 'no-cache' }).end(changed ? photoB : photoA);
      } else {
        res.writeHead(404).end();
      }
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression preset="balanced"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });
  const get = (path: string, headers: Record<string, string> = {}) => fetchRaw(new URL(path, proxy.url), { headers });

  it('a stored original sent as it is (an SVG) says its age, counted in the store, its 304 too', async () => {
    const first = await get('/logo.svg?m=ic,webp');
    assert.ok(first.headers['x-slimproxy-skip'], 'sent as it is');
    assert.equal(first.headers['cache-control'], 'public, max-age=600');
    assert.equal(first.headers.age, '0');
    await pause(1100);
    // Answered from the answers kept in memory now: its age is this response's all the same.
    const later = await get('/logo.svg?m=ic,webp');
    assert.ok(Number(later.headers.age) >= 1, `Age ${String(later.headers.age)} after a second in the store`);
    const notModified = await get('/logo.svg?m=ic,webp', { 'If-None-Match': '"s"' });
    assert.equal(notModified.status, 304);
    assert.ok(Number(notModified.headers.age) >= 1);
    assert.equal(origin.requests.filter((r) => r.url === '/logo.svg').length, 1, 'from the store');
  });

  it("the origin's Age goes on with it: 100 s of 600 gone before the proxy", async () => {
    const first = await get('/cdn.svg?m=ic');
    assert.ok(first.headers['x-slimproxy-skip']);
    assert.ok(Number(first.headers.age) >= 100 && Number(first.headers.age) <= 101, `Age ${String(first.headers.age)}`);
  });

  it('before final, no longer than the origin leaves: an Age near max-age, an Expires past or no date', async () => {
    const aged = await get('/aged.jpg?m=ic,webp');
    assert.match(String(aged.headers['cache-control']), /^private, no-transform, max-age=/);
    const left = secondsLeft(aged);
    assert.ok(left > 0 && left <= 5, `5 s left of the origin's 60, not ${left}`);
    for (const path of ['/past.jpg', '/zero.jpg']) {
      assert.equal((await get(`${path}?m=ic,webp`)).headers['cache-control'], 'private, no-transform, no-cache', path);
    }
  });

  for (const [path, tags] of [['/strong.jpg', '"a" then "b"'], ['/weak.jpg', 'W/"a" then W/"b"']] as const) {
    it(`a 304 with another entity tag (${tags}) is no confirmation: the original is fetched in full`, async () => {
      changed = false;
      const before = await get(`${path}?m=ic`);
      assert.deepEqual(before.body, photoA);
      changed = true;
      const after = await get(`${path}?m=ic`);
      assert.deepEqual(after.body, photoB, 'the new image, not the stored one');
      const asked = origin.requests.filter((r) => r.url === path);
      assert.deepEqual(asked.map((r) => r.headers['if-none-match']), [undefined, tags.startsWith('W/') ? 'W/"a"' : '"a"', undefined], 'revalidated, then asked for in full');
      await get(`${path}?m=ic`);
      assert.equal(origin.requests.filter((r) => r.url === path).at(-1)?.headers['if-none-match'], tags.startsWith('W/') ? 'W/"b"' : '"b"', 'the new tag stored');
    });
  }
});
