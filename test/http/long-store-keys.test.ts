import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { writeOldLayoutStore } from '../support/old-store.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));

/*
 * Hostile review 19: lmdb's default key encoding read a store key of 64 bytes or more back as an array. An image
 * whose URL is that long never had its variants served (the original went out, with its full lifetime), and once
 * such a key, or any image-API result's, was in the store, the proxy could not start again ("key.split is not a
 * function").
 */
describe('long store keys through the proxy (hostile review 19)', () => {
  let origin: TestOrigin;
  let asked = 0;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slimproxy-long-keys-'));
    origin = await startOrigin((_req, res) => {
      asked += 1;
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600', ETag: '"1"' });
      res.end(photo);
    });
  });
  after(async () => {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the variants of an image with a 100+ character URL and an image-API result, before and after a restart on the same store', async () => {
    const elements = `<image-compression/><image-api enabled="true"/><store path="${join(dir, 'store')}" max-size="256MiB"/>`;
    const long = `/img/launch-poster.jpg?v=${'a'.repeat(100)}&m=ic`;
    const api = '/img/launch-poster.jpg?size=150&format=webp';

    const first = await startProxy({ origin: origin.url, elements });
    let variant: Buffer;
    let transformed: Buffer;
    try {
      assert.deepEqual((await fetchRaw(new URL(long, first.url))).body, photo, 'the first answer is the original');
      await first.running.experimentsIdle();
      variant = (await fetchRaw(new URL(long, first.url))).body;
      assert.ok(variant.length < photo.length, `then its variant (${variant.length} bytes, the original ${photo.length})`);
      const result = await fetchRaw(new URL(api, first.url));
      assert.equal(result.status, 200);
      assert.equal(result.headers['content-type'], 'image/webp');
      transformed = result.body;
    } finally {
      await first.stop(5000);
    }

    const before = asked;
    const second = await startProxy({ origin: origin.url, elements });
    try {
      assert.deepEqual((await fetchRaw(new URL(long, second.url))).body, variant, 'the same variant, from the store');
      const result = await fetchRaw(new URL(api, second.url));
      assert.equal(result.headers['content-type'], 'image/webp');
      assert.deepEqual(result.body, transformed, 'the same image-API result, from the store');
      assert.equal(asked, before, 'nothing asked of the origin again: both were fresh in the store');
      assert.deepEqual(second.logs.filter((line) => String(line.msg).startsWith('store: ')), [], 'nothing dropped or damaged');
    } finally {
      await second.stop(5000);
    }
  });
  it('starts on a store the version before wrote, long keys and all: its images are dropped once, logged, and fetched again', async () => {
    const store = join(dir, 'old-store');
    const path = `/img/launch-poster.jpg?v=${'b'.repeat(100)}`;
    await writeOldLayoutStore(store, photo, [path], `api:${JSON.stringify({ format: 'webp', size: { width: 150 }, dpr: 1 })}`);
    const elements = `<image-compression/><store path="${store}" max-size="256MiB"/>`;
    const dropped = (proxy: TestProxy) => proxy.logs.filter((line) => String(line.msg).startsWith('store: written by an older version'));

    const first = await startProxy({ origin: origin.url, elements });
    try {
      assert.deepEqual(
        dropped(first).map(({ table, entries }) => ({ table, entries })),
        [{ table: 'originals', entries: 1 }],
      );
      const before = asked;
      assert.deepEqual((await fetchRaw(new URL(`${path}&m=ic`, first.url))).body, photo);
      assert.equal(asked, before + 1, 'fetched again');
    } finally {
      await first.stop(5000);
    }
    const second = await startProxy({ origin: origin.url, elements });
    try {
      assert.deepEqual(dropped(second), [], 'once');
      assert.ok(second.running.adminUrl);
    } finally {
      await second.stop(5000);
    }
  });
});
