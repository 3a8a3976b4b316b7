import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sniffImageType } from '../../src/images/probe.js';
import { capabilitiesOfMark } from '../../src/marks/index.js';
import { pngChunk } from '../support/bad-images.js';
import { fetchRaw } from '../support/client.js';
import { png } from '../support/rendering-images.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const texture = readFileSync(new URL('fixtures/site/img/bg/brick.png', PROJECT_ROOT));
const MARKS = ['ic', 'ic,webp', 'ic,webp,avif,zorro'];
/** A PNG whose header (and CRCs) are right and whose image data is not zlib. */
// Signature (8) and IHDR (25) of a right PNG, then an IDAT of garbage with a right CRC, then IEND.
const undecodablePng = Buffer.concat([png().subarray(0, 33), pngChunk('IDAT', Buffer.from('this is not a zlib stream at all, whatever the header says')), pngChunk('IEND', Buffer.alloc(0))]);

/** Experiments run so far, by name (any outcome). */
async function runs(proxy: TestProxy): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { labels, value } of (await proxy.running.metrics.experiments.get()).values) {
    const name = String(labels.experiment);
    counts[name] = (counts[name] ?? 0) + value;
  }
  return counts;
}

describe('experiments belong to the image, choices to the mark (issue 17)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((req, res) => {
      if ((req.url ?? '').startsWith('/photo.jpg')) {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
        res.end(photo);
      } else if ((req.url ?? '').startsWith('/brick.png')) {
        res.writeHead(200, { 'Content-Type': 'image/png', 'Cache-Control': 'max-age=3600' });
        res.end(texture);
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

  it('three marks run each experiment once, and each mark gets the smallest result it allows', async () => {
    const formats: Record<string, Set<string>> = Object.fromEntries(MARKS.map((mark) => [mark, new Set<string>()]));
    const final: Record<string, boolean> = {};
    // Rounds of one request per mark at once, each round after the previous one's experiments, until all are final.
    for (let round = 0; round < 10 && !MARKS.every((mark) => final[mark]); round += 1) {
      const responses = await Promise.all(MARKS.map((mark) => fetchRaw(new URL(`/photo.jpg?m=${mark}`, proxy.url))));
      responses.forEach((res, i) => {
        const mark = MARKS[i]!;
        assert.equal(res.status, 200);
        const type = sniffImageType(res.body);
        assert.ok(type, `${mark}: an image`);
        formats[mark]!.add(type);
        // A mark is a promise: never a format it does not allow.
        const allows = capabilitiesOfMark(mark)!;
        assert.ok(type !== 'webp' || allows.webp, `${mark} got WebP`);
        assert.ok(type !== 'avif' || allows.avif, `${mark} got AVIF`);
        assert.ok(res.body.length <= photo.length, `${mark}: never bigger than the original`);
        final[mark] = String(res.headers['cache-control']).startsWith('public');
      });
      await proxy.running.experimentsIdle();
    }
    assert.ok(MARKS.every((mark) => final[mark]), 'every mark final');
    // Each experiment ran once, not once per mark (JPEG for ic only: where WebP is allowed it cannot win).
    assert.deepEqual(await runs(proxy), { avif: 1, webp: 1, jpeg: 1 });
    const last = await Promise.all(MARKS.map(async (mark) => (await fetchRaw(new URL(`/photo.jpg?m=${mark}`, proxy.url))).body));
    const types = last.map((body) => sniffImageType(body));
    assert.deepEqual(types.slice(0, 2), ['jpeg', 'webp']);
    // The widest mark gets the smaller of WebP (the same bytes as ic,webp) and AVIF.
    assert.ok(types[2] === 'avif' ? last[2]!.length < last[1]!.length : last[2]!.equals(last[1]!), `widest: ${types[2]}`);
    assert.ok(last[1]!.length < last[0]!.length, `sizes ${last.map((body) => body.length).join(', ')}`);
  });

  it('an experiment that cannot win, by the outcomes kept before it, is not run: lossless WebP on a texture', async () => {
    const before = await runs(proxy);
    let final = false;
    for (let round = 0; round < 10 && !final; round += 1) {
      final = String((await fetchRaw(new URL('/brick.png?m=ic,webp,avif,zorro', proxy.url))).headers['cache-control']).startsWith('public');
      await proxy.running.experimentsIdle();
    }
    assert.ok(final, 'final');
    const after = await runs(proxy);
    assert.equal((after['webp-lossless'] ?? 0) - (before['webp-lossless'] ?? 0), 1, 'lossless WebP is done (its plan has it)');
    // Lossy WebP (about 2.6 KB) is under half the lossless PNG (about 21 KB): rejected without an encode. Run, its
    // 19 KB would have been kept (smaller than the 29 KB original).
    const lossless = (await proxy.running.metrics.experiments.get()).values.find((v) => v.labels.experiment === 'webp-lossless' && v.labels.outcome === 'rejected');
    assert.equal(lossless?.value, 1, 'rejected: it cannot win');
  });
});

describe('one image under several URLs is one image: its outcomes are taken, not made again (hostile review)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    // Under /flood/, other bytes of the same picture (one byte after its end): an image of its own.
    const other = Buffer.concat([photo, Buffer.from([0])]);
    origin = await startOrigin((req, res) => {
      // Under /broken/, a PNG whose header reads and whose image data does not decode.
      if (req.url?.startsWith('/broken/')) {
        res.writeHead(200, { 'Content-Type': 'image/png', 'Cache-Control': 'max-age=3600' });
        res.end(undecodablePng);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
      res.end(req.url?.startsWith('/flood/') ? other : photo);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression preset="balanced"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  /** Experiments that ran (their outcomes not taken from another URL), by name. */
  async function ran(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const { labels, value } of (await proxy.running.metrics.experiments.get()).values) {
      if (labels.outcome !== 'shared') counts[String(labels.experiment)] = (counts[String(labels.experiment)] ?? 0) + value;
    }
    return counts;
  }

  /** Requests `path` (one experiment started per request) until its answer is final. */
  async function untilFinal(path: string): Promise<Buffer> {
    for (let round = 0; round < 12; round += 1) {
      const res = await fetchRaw(new URL(path, proxy.url));
      await proxy.running.experimentsIdle();
      if (String(res.headers['cache-control']).startsWith('public')) return res.body;
    }
    throw new Error(`${path} never final`);
  }

  it('a second URL of the same bytes runs no experiment and is served the same bytes', async () => {
    const first = await untilFinal('/same.jpg?v=1&m=ic,webp,avif');
    const ran = await runs(proxy);
    const second = await untilFinal('/same.jpg?v=2&m=ic,webp,avif');
    const after = await runs(proxy);
    const shared = (await proxy.running.metrics.experiments.get()).values.filter((v) => v.labels.outcome === 'shared').reduce((sum, v) => sum + v.value, 0);
    assert.ok(shared > 0, 'outcomes were taken from the first URL');
    const runNow = Object.values(after).reduce((a, b) => a + b, 0) - shared;
    assert.equal(runNow, Object.values(ran).reduce((a, b) => a + b, 0), 'no experiment ran again');
    assert.ok(second.equals(first), 'the same best bytes');
  });

  // Found by a hostile review (floods): 500 junk query strings of one photo, sent at once, ran 466 AVIF searches
  // (340 times the CPU of one): the URLs remembered per image were the last 8, and each URL queued its own jobs.
  it('a flood of URLs of the same bytes, all at once: each experiment runs once, every URL gets its outcomes', async () => {
    const before = await ran();
    const urls = Array.from({ length: 30 }, (_, i) => `/flood/photo.jpg?junk=${i}&m=ic,webp,avif`);
    const answers = new Map<string, Buffer>();
    for (let round = 0; round < 12 && answers.size < urls.length; round += 1) {
      const responses = await Promise.all(urls.map(async (url) => [url, await fetchRaw(new URL(url, proxy.url))] as const));
      for (const [url, res] of responses) if (String(res.headers['cache-control']).startsWith('public')) answers.set(url, res.body);
      await proxy.running.experimentsIdle();
    }
    assert.equal(answers.size, urls.length, 'every URL final');
    assert.equal(new Set([...answers.values()].map((body) => body.toString('base64'))).size, 1, 'the same best bytes for all');
    const after = await ran();
    const again = Object.entries(after).filter(([name, count]) => count - (before[name] ?? 0) > 1);
    assert.deepEqual(again, [], 'no experiment ran twice for the image');
    assert.ok(Object.entries(after).some(([name, count]) => count > (before[name] ?? 0)), 'its experiments ran');
  });

  // Found by the review of that fix: a second URL of an image that cannot be decoded waited for the first's
  // experiment for good, never final, and each of its requests ran the failing decode again.
  it('a second URL of an image that cannot be decoded is passed through too, after at most its own try', async () => {
    const first = await untilSkipped('/broken/a.png?m=ic,webp,avif');
    const second = await untilSkipped('/broken/a.png?v=2&m=ic,webp,avif');
    assert.match(first, /decode/);
    assert.match(second, /decode/);
    const rejected = (await proxy.running.metrics.experiments.get()).values.filter((v) => v.labels.outcome === 'rejected').reduce((sum, v) => sum + v.value, 0);
    assert.ok(rejected <= 2, `decodes tried: ${rejected}`);
  });

  async function untilSkipped(path: string): Promise<string> {
    for (let round = 0; round < 8; round += 1) {
      const res = await fetchRaw(new URL(path, proxy.url));
      await proxy.running.experimentsIdle();
      if (res.headers['x-slimproxy-skip']) return String(res.headers['x-slimproxy-skip']);
    }
    throw new Error(`${path} never passed through`);
  }
});
