import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { type ClusterInstance, experimentsRun, startInstances, stopInstances } from '../support/cluster.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, waitForLog } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const images: Record<string, Buffer> = {
  '/big.jpg': readFileSync(new URL('fixtures/photos/hubble-deep-field.jpg', PROJECT_ROOT)),
  '/other.jpg': readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT)),
  '/flaky.jpg': readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT)),
};
const STARTED = 'experiment started under a cluster lease';

describe('<cluster>: work stealing', () => {
  let redis: TestRedis;
  let origin: TestOrigin;
  let instances: ClusterInstance[] = [];
  before(async () => {
    redis = await startRedis();
    let flakyFetches = 0;
    origin = await startOrigin((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      // The second fetch of /flaky.jpg (the stealer's) has its connection reset.
      if (path === '/flaky.jpg' && ++flakyFetches === 2) return req.socket.destroy();
      const bytes = images[path];
      res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(bytes);
    });
    // One experiment at a time on each: the first request keeps "busy" busy.
    instances = await startInstances(['busy', 'idle'], origin.url, redis.url, '', () => '<limits max-image-processes="1"/>');
  });
  after(async () => {
    await stopInstances(instances);
    await origin.close();
    await redis.stop();
  });

  it('an idle instance runs the experiment a busy one could not start, once', { timeout: 60_000 }, async () => {
    const [busy, idle] = instances as [ClusterInstance, ClusterInstance];
    await fetchRaw(new URL('/big.jpg?m=ic', busy.proxy.url));
    await waitForLog(busy.proxy, (line) => line.msg === STARTED && line.image === '/big.jpg');
    const stolen = waitForLog(idle.proxy, (line) => line.msg === STARTED && line.image === '/other.jpg');
    // Asked of the busy instance only; the idle one never sees a request for it.
    assert.equal((await fetchRaw(new URL('/other.jpg?m=ic', busy.proxy.url))).status, 200);
    await stolen;
    await Promise.all(instances.map((instance) => fetchRaw(new URL('api/idle', instance.admin))));
    assert.deepEqual(await experimentsRun(idle), { jpeg: 1 }, 'the idle instance ran the other image’s experiment');
    assert.deepEqual(await experimentsRun(busy), { jpeg: 1 }, 'the busy one ran only its own, not the other again');
    const final = await fetchRaw(new URL('/other.jpg?m=ic', busy.proxy.url));
    assert.equal(final.headers['cache-control'], 'public, no-transform, max-age=600');
    assert.ok(final.body.length < images['/other.jpg']!.length);
  });

  it('an origin failing for the stealer costs nothing: the stealer goes on, the maker runs the job', { timeout: 60_000 }, async () => {
    const [busy, idle] = instances as [ClusterInstance, ClusterInstance];
    const before = { busy: await experimentsRun(busy), idle: await experimentsRun(idle) };
    // Busy again (another mark of the big photograph: the experiment its plan adds).
    await fetchRaw(new URL('/big.jpg?m=ic,webp', busy.proxy.url));
    await waitForLog(busy.proxy, (line) => line.msg === STARTED && line.image === '/big.jpg' && line.mark === 'ic,webp');
    const failed = waitForLog(idle.proxy, (line) => line.msg === 'cluster: could not take an offered experiment');
    assert.equal((await fetchRaw(new URL('/flaky.jpg?m=ic', busy.proxy.url))).status, 200);
    await failed;
    await Promise.all(instances.map((instance) => fetchRaw(new URL('api/idle', instance.admin))));
    assert.equal(idle.proxy.child.exitCode, null, 'the stealer is still running');
    assert.equal((await fetchRaw(new URL('/other.jpg?m=ic', idle.proxy.url))).status, 200);
    assert.deepEqual(await experimentsRun(idle), before.idle, 'the stealer ran nothing');
    const ran = await experimentsRun(busy);
    // The big photograph's JPEG was done for `ic`: `ic,webp` needed only its WebP (outcomes belong to the image).
    assert.equal(ran.webp ?? 0, (before.busy.webp ?? 0) + 1, 'the maker ran the big photograph’s WebP');
    assert.equal(ran.jpeg, before.busy.jpeg! + 1, 'and the flaky one’s JPEG');
    assert.equal((await fetchRaw(new URL('/flaky.jpg?m=ic', busy.proxy.url))).headers['cache-control'], 'public, no-transform, max-age=600');
  });
});
