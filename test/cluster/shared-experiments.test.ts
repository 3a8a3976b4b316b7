import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { type ClusterInstance, experimentsRun, startInstances, stopInstances } from '../support/cluster.js';
import { PROJECT_ROOT } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
/** Another picture (outcomes are by the original's digest: the same bytes would share the first test's). */
const other = readFileSync(new URL('fixtures/site/img/photos/astronaut.jpg', PROJECT_ROOT));

describe('<cluster>: three instances (processes), one Redis, one origin', () => {
  let redis: TestRedis;
  let origin: TestOrigin;
  let instances: ClusterInstance[] = [];
  /** Every instance has run what it queued (its /api/idle answers when its queue is empty). */
  const idle = () => Promise.all(instances.map((instance) => fetchRaw(new URL('api/idle', instance.admin))));
  before(async () => {
    redis = await startRedis();
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end((req.url ?? '').startsWith('/shared.jpg') ? other : photo);
    });
    instances = await startInstances(['a', 'b', 'c'], origin.url, redis.url);
  });
  after(async () => {
    await stopInstances(instances);
    await origin.close();
    await redis.stop();
  });

  it('a JPEG asked for round-robin is final after as many requests as its plan has experiments, each run once in the cluster', async () => {
    const path = '/photo.jpg?m=ic,webp,avif';
    // The plan for a JPEG and ic,webp,avif: avif, webp (no JPEG: where WebP is allowed it cannot win).
    for (let i = 0; i < 2; i += 1) {
      const response = await fetchRaw(new URL(path, instances[i % 3]!.proxy.url));
      assert.equal(response.status, 200);
      assert.equal(response.headers['cache-control'], 'private, no-transform, max-age=60', `request ${i + 1} is not final yet`);
      await idle();
    }
    const finals = await Promise.all(instances.map((instance) => fetchRaw(new URL(path, instance.proxy.url))));
    for (const final of finals) {
      assert.equal(final.headers['cache-control'], 'public, no-transform, max-age=600');
      assert.deepEqual(final.body, finals[0]!.body, 'byte-identical on every instance');
    }
    assert.ok(finals[0]!.body.length < photo.length);
    const total: Record<string, number> = {};
    for (const instance of instances) for (const [name, count] of Object.entries(await experimentsRun(instance))) total[name] = (total[name] ?? 0) + count;
    assert.deepEqual(total, { webp: 1, avif: 1 }, 'each experiment ran exactly once in the cluster');
    assert.equal(origin.requests.filter((r) => r.url === '/photo.jpg').length, 3, 'each instance fetched the original once');
  });

  it('outcomes are shared by marks across instances: another mark runs only what its plan adds (issue 17)', async () => {
    const [a, b] = instances as [ClusterInstance, ClusterInstance];
    const before = await Promise.all(instances.map((instance) => experimentsRun(instance)));
    const ran = async () => {
      const total: Record<string, number> = {};
      for (const [i, instance] of instances.entries()) {
        for (const [name, count] of Object.entries(await experimentsRun(instance))) total[name] = (total[name] ?? 0) + count - (before[i]![name] ?? 0);
      }
      return Object.fromEntries(Object.entries(total).filter(([, count]) => count > 0));
    };
    // A crawler's `ic` on a: the JPEG re-encode only.
    await fetchRaw(new URL('/shared.jpg?m=ic', a.proxy.url));
    await idle();
    assert.equal((await fetchRaw(new URL('/shared.jpg?m=ic', a.proxy.url))).headers['cache-control'], 'public, no-transform, max-age=600');
    // A browser with WebP on b: its plan is WebP alone, and while it runs the mark is served the JPEG outcome a
    // made, from Redis (an outcome serves every mark that allows its format, in the mark's plan or not).
    const first = await fetchRaw(new URL('/shared.jpg?m=ic,webp', b.proxy.url));
    assert.equal(first.headers['cache-control'], 'private, no-transform, max-age=60');
    assert.equal(first.body.subarray(0, 2).toString('hex'), 'ffd8', 'meanwhile the JPEG outcome a made, not the original');
    assert.ok(first.body.length < other.length);
    await idle();
    const final = await fetchRaw(new URL('/shared.jpg?m=ic,webp', b.proxy.url));
    assert.equal(final.headers['cache-control'], 'public, no-transform, max-age=600');
    assert.equal(final.body.subarray(8, 12).toString('latin1'), 'WEBP');
    assert.deepEqual(await ran(), { jpeg: 1, webp: 1 }, 'each once in the cluster, whatever marks asked');
    // And back on a, `ic,webp` is final at once with b's WebP, nothing run for it.
    const onA = await fetchRaw(new URL('/shared.jpg?m=ic,webp', a.proxy.url));
    assert.equal(onA.headers['cache-control'], 'public, no-transform, max-age=600');
    assert.deepEqual(onA.body, final.body);
    await idle();
    assert.deepEqual(await ran(), { jpeg: 1, webp: 1 });
  });
});
