import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { freshUntil, staleWhileRevalidateMs } from '../../src/http/image-headers.js';
import type { OriginalRecord } from '../../src/store/records.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));
const DAY = 86_400_000;

function record(fields: Partial<OriginalRecord>): OriginalRecord {
  return { url: '/a.jpg', digest: 'd', size: 1, contentType: 'image/jpeg', validatedAt: 1_000_000_000_000, ...fields };
}

describe('freshness of stored originals (RFC 9111 §4.2)', () => {
  const at = 1_000_000_000_000;
  const lastModified = new Date(at - 10 * DAY).toUTCString();
  const none = { intervalSeconds: 0, heuristicMaxAgeSeconds: 0 };
  const capped = { intervalSeconds: 0, heuristicMaxAgeSeconds: 120 };

  it('heuristic: a tenth of the age since Last-Modified, capped; none without Last-Modified, or with the cap at 0', () => {
    assert.equal(freshUntil(record({ lastModified }), capped), at + 120_000, 'ten days old: a day, capped at 120 s');
    assert.equal(freshUntil(record({ lastModified: new Date(at - 500_000).toUTCString() }), capped), at + 50_000, 'a tenth of 500 s');
    assert.equal(freshUntil(record({ lastModified }), none), at, 'cap 0: asked every time');
    assert.equal(freshUntil(record({}), capped), at, 'no Last-Modified: nothing to go by');
    assert.equal(freshUntil(record({ lastModified: 'yesterday' }), capped), at, 'a Last-Modified that is no date');
    assert.equal(freshUntil(record({ lastModified: new Date(at + DAY).toUTCString() }), capped), at, 'modified in the future');
  });

  it('the origin wins: max-age, s-maxage, Expires (a bad one is already expired), no-cache', () => {
    assert.equal(freshUntil(record({ lastModified, cacheControl: 'max-age=0' }), capped), at);
    assert.equal(freshUntil(record({ lastModified, cacheControl: 'max-age=3600' }), capped), at + 3_600_000);
    assert.equal(freshUntil(record({ lastModified, cacheControl: 'max-age=3600, s-maxage=10' }), capped), at + 10_000);
    assert.equal(freshUntil(record({ lastModified, expires: new Date(at + 7_000).toUTCString() }), capped), at + 7_000);
    assert.equal(freshUntil(record({ lastModified, expires: '0' }), capped), at);
    assert.equal(freshUntil(record({ lastModified, cacheControl: 'no-cache' }), capped), at);
    assert.equal(freshUntil(record({ lastModified, cacheControl: 'no-cache' }), { intervalSeconds: 600, heuristicMaxAgeSeconds: 120 }), at + 600_000, 'the interval wins over all');
  });

  it('an invalid lifetime is stale, not a reason for the heuristic; a huge one is capped; the origin\'s Age counts', () => {
    for (const cacheControl of ['max-age=abc', 'max-age=-1', 'max-age=1.5', 's-maxage=x, max-age=60']) {
      assert.equal(freshUntil(record({ lastModified, cacheControl }), capped), at, cacheControl);
    }
    assert.equal(freshUntil(record({ cacheControl: 'max-age=99999999999' }), capped), at + 2_147_483_648_000);
    assert.equal(freshUntil(record({ lastModified, expires: '' }), capped), at, 'an empty Expires is already expired');
    assert.equal(freshUntil(record({ cacheControl: 'max-age=60', age: 59 }), capped), at + 1000);
    assert.equal(freshUntil(record({ lastModified, age: 100 }), capped), at + 20_000, 'heuristic 120 s, 100 of them gone');
  });

  it('stale-while-revalidate only where the origin allows it and does not require revalidation', () => {
    assert.equal(staleWhileRevalidateMs(record({ cacheControl: 'max-age=60, stale-while-revalidate=30' })), 30_000);
    assert.equal(staleWhileRevalidateMs(record({ cacheControl: 'max-age=60, stale-while-revalidate=30, must-revalidate' })), 0);
    assert.equal(staleWhileRevalidateMs(record({ cacheControl: 'max-age=60' })), 0);
    assert.equal(staleWhileRevalidateMs(record({ cacheControl: 'stale-while-revalidate=x' })), 0);
  });
});

describe('heuristic freshness through the proxy (issue 18)', () => {
  let origin: TestOrigin;
  let capped: TestProxy;
  let off: TestProxy;
  const lastModified = new Date(Date.now() - 30 * DAY).toUTCString();
  const cacheControl: Record<string, string> = { '/max-age.jpg': 'max-age=0', '/no-cache.jpg': 'no-cache', '/swr.jpg': 'max-age=1, stale-while-revalidate=600' };
  let swrPause: Promise<void> | undefined;

  before(async () => {
    origin = await startOrigin((req: IncomingMessage, res: ServerResponse) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const headers = { ETag: '"v1"', 'Last-Modified': lastModified, ...(cacheControl[path] ? { 'Cache-Control': cacheControl[path] } : {}) };
      const answer = () => {
        if (req.headers['if-none-match'] === '"v1"') res.writeHead(304, headers).end();
        else res.writeHead(200, { ...headers, 'Content-Type': 'image/jpeg' }).end(photo);
      };
      if (path === '/swr.jpg' && swrPause) void swrPause.then(answer);
      else answer();
    });
    capped = await startProxy({ origin: origin.url, originAttributes: 'heuristic-max-age="2"', elements: '<image-compression/>' });
    off = await startProxy({ origin: origin.url, originAttributes: 'heuristic-max-age="0"', elements: '<image-compression/>' });
  });
  after(async () => {
    await capped.stop(5000);
    await off.stop(5000);
    await origin.close();
  });

  const asked = (path: string) => origin.requests.filter((r) => r.url === path).length;
  const get = (proxy: TestProxy, path: string) => fetchRaw(new URL(`${path}?m=ic`, proxy.url));

  it('an origin with only Last-Modified: served from the store within the cap, revalidated after it; every time with the cap at 0', async () => {
    const first = await get(capped, '/lm.jpg');
    assert.equal(first.status, 200);
    for (let i = 0; i < 3; i += 1) assert.equal((await get(capped, '/lm.jpg')).status, 200);
    assert.equal(asked('/lm.jpg'), 1, 'fresh by heuristic (a tenth of 30 days, capped at 2 s): the origin is not asked');
    for (let i = 0; i < 3; i += 1) await get(off, '/lm-off.jpg');
    assert.equal(asked('/lm-off.jpg'), 3, 'cap 0: asked every time');
    assert.ok(origin.requests.filter((r) => r.url === '/lm-off.jpg').slice(1).every((r) => r.headers['if-none-match'] === '"v1"'), 'with the stored validator');
    // The cap is the subject here: its two seconds have to pass.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.equal((await get(capped, '/lm.jpg')).status, 200);
    assert.equal(asked('/lm.jpg'), 2, 'revalidated once the cap has passed');
    assert.equal(origin.requests.filter((r) => r.url === '/lm.jpg').at(-1)?.headers['if-none-match'], '"v1"');
  });

  it("the origin's own lifetime wins: max-age=0 and no-cache are revalidated every time", async () => {
    for (const path of ['/max-age.jpg', '/no-cache.jpg']) {
      for (let i = 0; i < 3; i += 1) assert.equal((await get(capped, path)).status, 200);
      assert.equal(asked(path), 3, `${path}: asked every time despite Last-Modified`);
    }
  });

  it('stale-while-revalidate: a stale original is served at once and revalidated in the background', async () => {
    await get(capped, '/swr.jpg');
    // max-age=1: stale after a second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    let release!: () => void;
    swrPause = new Promise<void>((resolve) => (release = resolve));
    // The origin now holds its answer: the response comes from the store all the same.
    const stale = await get(capped, '/swr.jpg');
    assert.equal(stale.status, 200);
    assert.equal(asked('/swr.jpg'), 2, 'the revalidation was sent');
    assert.equal(origin.requests.filter((r) => r.url === '/swr.jpg').at(-1)?.headers['if-none-match'], '"v1"');
    await get(capped, '/swr.jpg');
    assert.equal(asked('/swr.jpg'), 2, 'one revalidation at a time');
    release();
    swrPause = undefined;
  });
});
