import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createImageRoute } from '../../../src/http/image-route.js';
import { imageSource } from '../../../src/http/image-source.js';
import { Outcomes } from '../../../src/http/image/outcomes.js';
import { planForFacts } from '../../../src/images/plan.js';
import { settingsDigest } from '../../../src/images/settings.js';
import { capabilitiesOfMark, decodeMarkedUrl } from '../../../src/marks/index.js';
import { ExperimentQueue } from '../../../src/optimizer/experiment-queue.js';
import { imageParts } from '../../support/image-parts.js';
import { type KeptAnswer, KeptAnswers } from '../../../src/http/image/kept-answers.js';
import { MemoryBudget } from '../../../src/http/memory-budget.js';
import type { OriginalRecord } from '../../../src/store/records.js';
import { type ClientResponse, fetchRaw } from '../../support/client.js';
import { startOrigin, type TestOrigin } from '../../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../../support/proxy.js';

const record = (digest: string): OriginalRecord => ({ url: '/a.jpg', digest, size: 1000, contentType: 'image/jpeg', validatedAt: 1000 });
const answer = (of: OriginalRecord, bytes: number, freshUntil = 10_000, generation = 0): [Omit<KeptAnswer, 'body'>, Buffer] => [
  { record: of, generation, freshUntil, head: ['Content-Type', 'image/webp'], etag: undefined, lastModified: undefined, outcome: 'variant' },
  Buffer.alloc(bytes, 1),
];

/** Bytes that tell which of their properties were read (a copy reads every index; a look at the size only `length`). */
function watchedBytes(length: number): { bytes: Uint8Array; read: Set<string> } {
  const read = new Set<string>();
  const bytes = new Proxy(new Uint8Array(length).fill(7), {
    get(target, name) {
      if (typeof name === 'string') read.add(/^\d+$/.test(name) ? 'an index' : name);
      return Reflect.get(target, name) as unknown;
    },
  });
  return { bytes, read };
}

describe('final answers kept in memory', () => {
  it('an answer holds only for the very record it was made from, with no variant written since, while that original is fresh', () => {
    const answers = new KeptAnswers(new MemoryBudget(64 << 20));
    const stored = record('d1');
    answers.set('k', ...answer(stored, 100), 0);
    assert.equal(answers.get('k', stored, 0, 5000)?.body.length, 100);
    // An equal record read again after a write is another object: the record changed (revalidated, replaced).
    assert.equal(answers.get('k', { ...stored }, 0, 5000), undefined);
    answers.set('k', ...answer(stored, 100), 0);
    // A variant written since (for another mark, say) may be smaller than what was chosen.
    assert.equal(answers.get('k', stored, 1, 5000), undefined);
    answers.set('k', ...answer(stored, 100), 0);
    assert.equal(answers.get('k', stored, 0, 10_000), undefined, 'stale at freshUntil');
    assert.equal(answers.get('k', undefined, 0, 5000), undefined, 'the original is gone from the store');
    // Stale already when made (no-cache, or served while revalidated): never kept, it could never be used.
    answers.set('k', ...answer(stored, 100, 5000), 5000);
    assert.equal(answers.count, 0);
    assert.equal(answers.bytes, 0);
  });

  it('holds at most an eighth of max-buffered, counted in it with the names it is kept by, least recently used out first', () => {
    const budget = new MemoryBudget(8 << 20);
    const answers = new KeptAnswers(budget);
    const stored = record('d');
    for (let i = 0; i < 40; i += 1) {
      answers.set(`k${i}`, ...answer(stored, 50_000), 0);
      // k0 is asked for all along.
      answers.get('k0', stored, 0, 0);
      assert.ok(answers.bytes <= 1 << 20, `${answers.bytes} bytes kept`);
      assert.equal(budget.used, answers.bytes);
    }
    assert.equal(answers.count, 20);
    assert.ok(answers.bytes > 20 * 50_000, 'more than the bodies: their keys and objects count too');
    assert.notEqual(answers.get('k0', stored, 0, 0), undefined, 'used recently: kept');
    assert.equal(answers.get('k1', stored, 0, 0), undefined, 'the least recently used went first');
    // Over a sixteenth of the room: never kept (one image must not push out all the others).
    answers.set('big', ...answer(stored, (1 << 20) / 16), 0);
    assert.equal(answers.get('big', stored, 0, 0), undefined);
    // Replaced: the old bytes are given back.
    const before = budget.used;
    answers.set('k0', ...answer(stored, 10), 0);
    assert.equal(budget.used, before - 50_000 + 10);
    // Many tiny answers under long URLs: their names are what costs, and are counted.
    const names = new KeptAnswers(new MemoryBudget(8 << 20));
    const long = { ...stored, url: `/a.svg?${'x'.repeat(850)}` };
    for (let i = 0; i < 5000; i += 1) names.set(`${long.url}${i}\u0000ic\u0000marked`, ...answer(long, 41), 0);
    assert.ok(names.count < 400, `${names.count} answers of 41 bytes under 1 MiB`);
  });

  it('keeps nothing when the bodies in flight hold the budget, or when an eighth of it is under 1 MiB', () => {
    const budget = new MemoryBudget(16 << 20);
    const inFlight = budget.reserve(16 << 20);
    const answers = new KeptAnswers(budget);
    answers.set('k', ...answer(record('d'), 1000), 0);
    assert.equal(answers.count, 0);
    inFlight?.release();
    answers.set('k', ...answer(record('d'), 1000), 0);
    assert.equal(answers.count, 1);
    const small = new KeptAnswers(new MemoryBudget(4 << 20));
    small.set('k', ...answer(record('d'), 1000), 0);
    assert.equal(small.count, 0);
  });

  it('copies the bytes of an answer it keeps, and does not touch those of one it will not keep', () => {
    const budget = new MemoryBudget(16 << 20);
    const answers = new KeptAnswers(budget);
    const [made] = answer(record('d'), 0);
    // Too large (over a sixteenth of the eighth), stale, no room: only the size is looked at. (A 50 MB original
    // asked for again and again was copied whole on every request, for nothing.)
    for (const [why, bytes, freshUntil, keptBy] of [
      ['too large', watchedBytes((2 << 20) / 16 + 1), 10_000, answers],
      ['stale', watchedBytes(1000), 0, answers],
      ['no room', watchedBytes(1000), 10_000, new KeptAnswers(new MemoryBudget(4 << 20))],
    ] as const) {
      keptBy.set(why, { ...made, freshUntil }, bytes.bytes, 0);
      assert.equal(keptBy.count, 0, why);
      assert.deepEqual([...bytes.read].filter((name) => name !== 'length' && name !== 'byteLength'), [], `${why}: nothing but the size read`);
    }
    const kept = watchedBytes(1000);
    answers.set('kept', made, kept.bytes, 0);
    assert.ok(kept.read.has('an index'), 'copied');
    const body = answers.get('kept', made.record, 0, 0)?.body;
    assert.ok(body && body.length === 1000 && body.every((byte) => byte === 7));
  });
});

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));
const other = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const raccoon = readFileSync(new URL('fixtures/site/img/photos/raccoon.jpg', PROJECT_ROOT));

/** The headers that differ between two answers of the same bytes. */
const PER_RESPONSE = new Set(['date', 'age', 'x-request-id', 'connection', 'keep-alive']);
const lasting = (res: ClientResponse) => Object.fromEntries(Object.entries(res.headers).filter(([name]) => !PER_RESPONSE.has(name)));

describe('a final image answered from memory, through the proxy', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let current = { bytes: photo, etag: '"one"' };
  before(async () => {
    origin = await startOrigin((req, res) => {
      const cacheControl = req.url?.startsWith('/short') ? 'max-age=1' : req.url?.startsWith('/no-cache') ? 'no-cache' : 'max-age=600';
      if (req.headers['if-none-match'] === current.etag) {
        res.writeHead(304, { ETag: current.etag, 'Cache-Control': cacheControl });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: current.etag, 'Cache-Control': cacheControl, 'Last-Modified': 'Tue, 01 Jun 2021 10:00:00 GMT' });
      res.end(current.bytes);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });
  const kept = async () => (await proxy.running.metrics.keptAnswers.get()).values.find((value) => value.labels.what === 'answers')?.value ?? 0;

  /** Asks until the answer is final (all experiments of the mark have run), at most a few rounds. */
  async function finalOf(path: string): Promise<ClientResponse> {
    for (let round = 0; round < 8; round += 1) {
      const res = await fetchRaw(new URL(path, proxy.url));
      if (res.headers['cache-control']?.startsWith('public')) return res;
      await proxy.running.experimentsIdle();
    }
    assert.fail(`${path} not final after 8 rounds`);
  }

  it('repeats are the same answer, byte for byte and header for header; HEAD and a matching If-None-Match too', async () => {
    current = { bytes: photo, etag: '"one"' };
    const first = await finalOf('/kept.jpg?m=ic,webp');
    const keptBefore = await kept();
    assert.ok(keptBefore >= 1, 'the final answer is kept');
    for (let i = 0; i < 3; i += 1) {
      const again = await fetchRaw(new URL('/kept.jpg?m=ic,webp', proxy.url));
      assert.equal(again.status, 200);
      assert.ok(again.body.equals(first.body));
      assert.deepEqual(lasting(again), lasting(first));
      assert.match(String(again.headers.age), /^\d+$/);
    }
    const head = await fetchRaw(new URL('/kept.jpg?m=ic,webp', proxy.url), { method: 'HEAD' });
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(first.body.length));
    const conditional = await fetchRaw(new URL('/kept.jpg?m=ic,webp', proxy.url), { headers: { 'if-none-match': String(first.headers.etag) } });
    assert.equal(conditional.status, 304);
    assert.equal(conditional.headers.etag, first.headers.etag);
    assert.equal(conditional.headers['cache-control'], first.headers['cache-control']);
    // Another mark is another answer: the original's kept answer is not a WebP mark's.
    const jpegOnly = await finalOf('/kept.jpg?m=ic');
    assert.notEqual(jpegOnly.headers['content-type'], 'image/webp');
    assert.equal(origin.requests.filter((r) => r.url === '/kept.jpg').length, 1, 'fresh all along: the origin was asked once');
  });

  it('once the original is stale and the origin has new bytes, the new image is answered, never the kept one', async () => {
    current = { bytes: photo, etag: '"one"' };
    const first = await finalOf('/short.jpg?m=ic,webp');
    const staleAt = Date.now() + 1100;
    current = { bytes: other, etag: '"two"' };
    // Within the second of freshness the kept answer is right (the origin's own lifetime allows it)…
    const soon = await fetchRaw(new URL('/short.jpg?m=ic,webp', proxy.url));
    if (Date.now() < staleAt - 100) assert.ok(soon.body.equals(first.body));
    // …after it, the proxy asks the origin, which has other bytes now.
    while (Date.now() < staleAt) await new Promise((resolve) => setTimeout(resolve, staleAt - Date.now()));
    const after = await fetchRaw(new URL('/short.jpg?m=ic,webp', proxy.url));
    assert.ok(!after.body.equals(first.body), 'the answer kept for the old bytes is not sent');
    assert.ok(String(after.headers['x-slimproxy-image']).includes(`original=${other.length}`), String(after.headers['x-slimproxy-image']));
  });

  // Hostile review: outcomes belong to the image, so one made for another mark later may beat what was kept.
  it('an outcome made later for another mark that this mark allows, and smaller, is answered, not the kept one', async () => {
    current = { bytes: raccoon, etag: '"r"' };
    const webpMark = await finalOf('/raccoon.jpg?m=ic,webp');
    const jpegMark = await finalOf('/raccoon.jpg?m=ic');
    const again = await fetchRaw(new URL('/raccoon.jpg?m=ic,webp', proxy.url));
    assert.equal(again.body.length, Math.min(webpMark.body.length, jpegMark.body.length), String(again.headers['x-slimproxy-image']));
    assert.ok(jpegMark.body.length < webpMark.body.length, 'the case this checks: the JPEG made for ic is the smaller');
  });

  it('an original the origin says to revalidate every time is confirmed on every request, final or not', async () => {
    current = { bytes: photo, etag: '"one"' };
    await finalOf('/no-cache.jpg?m=ic');
    const asked = origin.requests.filter((r) => r.url === '/no-cache.jpg').length;
    for (let i = 0; i < 3; i += 1) await fetchRaw(new URL('/no-cache.jpg?m=ic', proxy.url));
    assert.equal(origin.requests.filter((r) => r.url === '/no-cache.jpg').length, asked + 3);
  });
});

describe('an answer before final, kept while the experiments it waits for wait', () => {
  const mark = 'ic,webp';
  let origin: TestOrigin;
  let parts: ReturnType<typeof imageParts>;
  let server: Server;
  let base: URL;
  before(async () => {
    origin = await startOrigin((_req, res) => res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' }).end(photo));
    // A queue that runs nothing: its experiments wait for as long as the test wants.
    parts = imageParts(origin.url, { queue: new ExperimentQueue(0, 100) });
    const route = createImageRoute(parts);
    server = createServer((req, res) => {
      void route.serve(req, res, decodeMarkedUrl(req.url ?? '/')!).then((answer) => {
        if (answer.kind === 'forward') res.writeHead(502).end(answer.reason);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await parts.close();
    await origin.close();
  });
  const keptCount = () => parts.metrics.sources.keptAnswers?.().count ?? 0;

  it('repeats get the same answer without the route; once an experiment ends, the route decides again (final here)', async () => {
    const source = imageSource('/p.jpg', {}, 'origin')!;
    let last = await fetchRaw(new URL(`/p.jpg?m=${mark}`, base));
    const record = parts.store.getOriginal(source.key)!;
    const plan = planForFacts(record.facts!, capabilitiesOfMark(mark)!, parts.settings);
    // One experiment started per request; the request after the last of them starts none and is kept.
    for (let i = 0; i < plan.length; i += 1) {
      assert.equal(keptCount(), 0, `request ${i + 1} started an experiment: not kept`);
      last = await fetchRaw(new URL(`/p.jpg?m=${mark}`, base));
    }
    assert.equal(parts.queue.queued, plan.length);
    assert.equal(keptCount(), 1);
    assert.match(String(last.headers['cache-control']), /^private/);
    for (let i = 0; i < 3; i += 1) {
      const again = await fetchRaw(new URL(`/p.jpg?m=${mark}`, base));
      assert.ok(again.body.equals(last.body));
      assert.deepEqual(lasting(again), lasting(last));
    }
    // The experiments end (their progress is written, as a finished experiment writes it): final now, not the kept
    // answer from before.
    await new Outcomes(parts.store, settingsDigest(parts.settings)).addProgress(source.key, record, plan);
    const final = await fetchRaw(new URL(`/p.jpg?m=${mark}`, base));
    assert.match(String(final.headers['cache-control']), /^public/);
    assert.equal(origin.requests.length, 1, 'fresh all along');
  });
});
