import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { type ClusterInstance, experimentsRun, startInstances, stopInstances } from '../support/cluster.js';
import { PROJECT_ROOT } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));

describe('<cluster>: three instances (processes), one Redis, one origin', () => {
  let redis: TestRedis;
  let origin: TestOrigin;
  let instances: ClusterInstance[] = [];
  /** Every instance has run what it queued (its /api/idle answers when its queue is empty). */
  const idle = () => Promise.all(instances.map((instance) => fetchRaw(new URL('api/idle', instance.admin))));
  before(async () => {
    redis = await startRedis();
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(photo);
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
    // The plan for a JPEG and ic,webp,avif: jpeg, webp, avif.
    for (let i = 0; i < 3; i += 1) {
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
    assert.deepEqual(total, { jpeg: 1, webp: 1, avif: 1 }, 'each experiment ran exactly once in the cluster');
    assert.equal(origin.requests.filter((r) => r.url === '/photo.jpg').length, 3, 'each instance fetched the original once');
  });
});
