import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createOriginals, discard, type Originals } from '../../../src/http/image/originals.js';
import { imageSource } from '../../../src/http/image-source.js';
import { imageParts } from '../../support/image-parts.js';
import { startOrigin, type TestOrigin } from '../../support/origin.js';
import { PROJECT_ROOT } from '../../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));
const source = (path: string) => imageSource(path, {}, 'origin')!;

describe('image route, step 2: the original, from the store or the origin', () => {
  let origin: TestOrigin;
  let parts: ReturnType<typeof imageParts>;
  let originals: Originals;
  let hold: Promise<void> | undefined;
  before(async () => {
    origin = await startOrigin((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const answer = () => {
        if (path === '/private.jpg') res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'private' }).end(photo);
        else if (path === '/down.jpg' && origin.requests.filter((r) => r.url === path).length > 1) res.socket?.destroy();
        else if (req.headers['if-none-match'] === '"v1"') res.writeHead(304, { ETag: '"v1"', 'Cache-Control': path === '/fresh.jpg' ? 'max-age=60' : 'no-cache' }).end();
        else res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: '"v1"', 'Cache-Control': path === '/fresh.jpg' ? 'max-age=60' : 'no-cache' }).end(photo);
      };
      if (hold) void hold.then(answer);
      else answer();
    });
    parts = imageParts(origin.url);
    originals = createOriginals(parts);
  });
  after(async () => {
    await parts.close();
    await origin.close();
  });
  const asked = (path: string) => origin.requests.filter((r) => r.url === path).length;

  it('fetched once, probed and stored; used from the store while fresh', async () => {
    const first = await originals.original(undefined, source('/fresh.jpg'));
    assert.ok('record' in first);
    assert.equal(first.record.size, photo.length);
    assert.equal(first.record.facts?.type, 'jpeg');
    assert.ok(parts.store.getOriginal('/fresh.jpg'));
    const again = await originals.original(undefined, source('/fresh.jpg'));
    assert.ok('record' in again);
    assert.equal(asked('/fresh.jpg'), 1);
  });

  it('concurrent first requests share one fetch', async () => {
    let release!: () => void;
    hold = new Promise<void>((resolve) => (release = resolve));
    const all = Promise.all([1, 2, 3, 4].map(() => originals.original(undefined, source('/shared.jpg'))));
    // Let the four start before the origin answers.
    await new Promise((resolve) => setImmediate(resolve));
    hold = undefined;
    release();
    const outcomes = await all;
    assert.ok(outcomes.every((outcome) => 'record' in outcome));
    assert.equal(asked('/shared.jpg'), 1);
  });

  it('revalidated when not fresh (a 304 keeps the stored bytes, with the time of the confirmation)', async () => {
    const first = await originals.original(undefined, source('/no-cache.jpg'));
    assert.ok('record' in first);
    const again = await originals.original(undefined, source('/no-cache.jpg'));
    assert.ok('record' in again);
    assert.equal(asked('/no-cache.jpg'), 2);
    assert.equal(origin.requests.filter((r) => r.url === '/no-cache.jpg')[1]?.headers['if-none-match'], '"v1"');
    assert.equal(again.record.digest, first.record.digest);
    assert.ok(again.record.validatedAt >= first.record.validatedAt);
  });

  it("what may not be kept is the origin's answer to pass on, not stored", async () => {
    const outcome = await originals.original(undefined, source('/private.jpg'));
    assert.ok('response' in outcome);
    assert.equal(outcome.response.status, 200);
    discard(outcome.response);
    assert.equal(parts.store.getOriginal('/private.jpg'), undefined);
  });

  it('an origin that cannot be reached: the stored original unless it must be confirmed (no-cache)', async () => {
    assert.ok('record' in (await originals.original(undefined, source('/down.jpg'))));
    await assert.rejects(originals.original(undefined, source('/down.jpg')), 'no-cache: the failure is the answer');
  });
});
