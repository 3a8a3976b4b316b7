import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';
import { until } from '../support/until.js';

// Found by the hostile review of issue 18's image route (each failed before its fix).
const webp = readFileSync(new URL('fixtures/dssim-vectors/coffee-q50.webp', PROJECT_ROOT));
const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));
const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>');

describe('the image route at its edges (hostile review, issue 18)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let swr: 'ok' | 'gone' = 'ok';
  let endHog: () => void = () => undefined;
  before(async () => {
    origin = await startOrigin((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/hog.jpg') {
        // Declares all but 3.5 KB of the budget and sends 3 bytes: its fetch holds that much of the budget meanwhile.
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': 1_045_000, 'Cache-Control': 'max-age=60' });
        res.write(Buffer.from([0xff, 0xd8, 0xff]));
        endHog = () => res.destroy();
      } else if (path === '/p.webp') {
        res.writeHead(200, { 'Content-Type': 'image/webp', 'Cache-Control': 'max-age=600' }).end(webp);
      } else if (path === '/logo.svg') {
        res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'max-age=600' }).end(svg);
      } else if (path === '/swr.jpg') {
        if (swr === 'gone') res.writeHead(404, { 'Content-Type': 'text/plain' }).end('gone');
        else res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: '"v1"', 'Cache-Control': 'max-age=1, stale-while-revalidate=600' }).end(photo);
      } else if (path === '/aged.jpg') {
        // Behind a CDN that has held it for 59 of its 60 seconds.
        res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: '"a"', Age: '59', 'Cache-Control': 'max-age=60' }).end(photo);
      } else {
        res.writeHead(404).end();
      }
    });
    proxy = await startProxy({ origin: origin.url, originAttributes: 'timeout="20"', elements: '<image-compression/><limits max-buffered="1MiB"/>' });
  });
  after(async () => {
    endHog();
    await proxy.stop();
    await origin.close();
  });
  const asked = (path: string) => origin.requests.filter((r) => r.url === path).length;

  it('over max-buffered, a mark that does not allow the original is forwarded: no conversion outside the budget', async () => {
    // WebP for `ic`: converted once (to JPEG), kept.
    assert.equal((await fetchRaw(new URL('/p.webp?m=ic', proxy.url))).headers['content-type'], 'image/jpeg');
    await proxy.running.experimentsIdle();
    const transforms = async () => (await proxy.running.metrics.experimentCpu.get()).values.find((v) => v.labels.experiment === 'transform')?.value ?? 0;
    const before = await transforms();
    const hog = httpRequest(new URL('/hog.jpg?m=ic', proxy.url), { agent: false });
    hog.on('error', () => undefined);
    hog.end();
    await until(async () => ((await proxy.running.metrics.bufferedBytes.get()).values[0]?.value ?? 0) >= 1_045_000, () => 'the slow fetch holds the budget');
    const answer = await fetchRaw(new URL('/p.webp?m=ic', proxy.url));
    hog.destroy();
    endHog();
    assert.match(String(answer.headers['x-slimproxy-skip']), /max-buffered/);
    await proxy.running.experimentsIdle();
    assert.equal(await transforms(), before, 'no second conversion');
  });

  it('an original passed through as it is (an SVG) is counted like any other', async () => {
    for (let i = 0; i < 5; i += 1) assert.equal((await fetchRaw(new URL('/logo.svg?m=ic', proxy.url))).status, 200);
    const count = async () => {
      const status = JSON.parse((await fetchRaw(new URL('/api/status', proxy.running.adminUrl))).body.toString()) as { store?: { top: { url: string; requests: number }[] } };
      return status.store?.top.find((image) => image.url === '/logo.svg')?.requests;
    };
    await until(async () => (await count()) === 5, () => `/logo.svg counted ${String(count)}`);
  });

  it('stale-while-revalidate: an image the origin has withdrawn is not served from the store again', async () => {
    assert.equal((await fetchRaw(new URL('/swr.jpg?m=ic', proxy.url))).status, 200);
    swr = 'gone';
    // Its one second of max-age has to pass.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal((await fetchRaw(new URL('/swr.jpg?m=ic', proxy.url))).status, 200, 'stale, served while revalidated');
    await until(async () => (await fetchRaw(new URL('/swr.jpg?m=ic', proxy.url))).status === 404, () => 'the origin’s 404 once the revalidation saw it');
    assert.ok(asked('/swr.jpg') >= 3);
  });

  it("the origin's Age counts: 59 s of 60 already gone, asked again a second later", async () => {
    await fetchRaw(new URL('/aged.jpg?m=ic', proxy.url));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await fetchRaw(new URL('/aged.jpg?m=ic', proxy.url));
    assert.equal(asked('/aged.jpg'), 2);
  });
});

describe('a client that leaves while the original is fetched (hostile review, issue 18)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let release!: () => void;
  const answered = new Promise<void>((resolve) => (release = resolve));
  before(async () => {
    origin = await startOrigin((_req, res) => {
      void answered.then(() => res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=60' }).end(photo));
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('is logged as gone: not counted over the budget, its request not forwarded for no one', async () => {
    const req = httpRequest(new URL('/slow.jpg?m=ic,webp', proxy.url), { agent: false });
    req.on('error', () => undefined);
    req.end();
    await until(() => origin.requests.length === 1, () => 'the fetch reached the origin');
    req.destroy();
    await until(() => proxy.logs.some((line) => line.path === '/slow.jpg' && line.cause === 'client'), () => 'its request line');
    // Another client waits for the same fetch, and goes on after the first (promises settle in order): by its
    // answer, the route has found the first one's client gone.
    const other = fetchRaw(new URL('/slow.jpg?m=ic,webp', proxy.url));
    await until(() => proxy.running.metrics.sharedFetches.get().then((m) => (m.values[0]?.value ?? 0) > 0), () => 'the other request waits for the same fetch');
    release();
    assert.equal((await other).status, 200);
    assert.equal((await proxy.running.metrics.unbuffered.get()).values.length, 0, 'nothing counted over the budget');
    assert.equal(origin.requests.length, 1, 'no second request to the origin');
  });
});
