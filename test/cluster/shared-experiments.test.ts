import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const photos = ['night-lights.jpg', 'launch-poster.jpg', 'chelsea-p3.jpg'].map((name) => readFileSync(new URL(`fixtures/site/img/photos/${name}`, PROJECT_ROOT)));

/** Experiments run by one instance, by name (its own metrics). */
async function experimentsRun(proxy: TestProxy): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const value of (await proxy.running.metrics.experiments.get()).values) {
    const name = String(value.labels.experiment);
    counts.set(name, (counts.get(name) ?? 0) + value.value);
  }
  return counts;
}

describe('<cluster>: instances share experiments and results through Redis', () => {
  let redis: TestRedis;
  let origin: TestOrigin;
  const instances: TestProxy[] = [];
  const idle = () => Promise.all(instances.map((instance) => instance.running.experimentsIdle()));
  before(async () => {
    redis = await startRedis();
    origin = await startOrigin((req, res) => {
      const index = Number(/^\/photo(\d)\.jpg/.exec(req.url ?? '')?.[1]);
      const bytes = photos[index];
      res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(bytes);
    });
    for (const name of ['a', 'b', 'c']) {
      instances.push(await startProxy({ origin: origin.url, elements: `<image-compression/><cluster redis="${redis.url}" instance="${name}"/>` }));
    }
    await Promise.all(instances.map((instance) => instance.running.clusterJoined()));
  });
  after(async () => {
    for (const instance of instances) await instance.stop(5000);
    await origin.close();
    await redis.stop();
  });

  it('a JPEG asked for round-robin is final after as many requests as its plan has experiments, each run once in the cluster', async () => {
    const path = '/photo0.jpg?m=ic,webp,avif';
    // The plan for a JPEG and ic,webp,avif: jpeg, webp, avif.
    for (let i = 0; i < 3; i += 1) {
      const response = await fetchRaw(new URL(path, instances[i % 3]!.url));
      assert.equal(response.status, 200);
      assert.equal(response.headers['cache-control'], 'private, no-transform', `request ${i + 1} is not final yet`);
      await idle();
    }
    const finals = await Promise.all(instances.map((instance) => fetchRaw(new URL(path, instance.url))));
    for (const final of finals) {
      assert.equal(final.headers['cache-control'], 'public, no-transform, max-age=600');
      assert.deepEqual(final.body, finals[0]!.body, 'byte-identical on every instance');
    }
    assert.ok(finals[0]!.body.length < photos[0]!.length);
    const total = new Map<string, number>();
    for (const instance of instances) for (const [name, count] of await experimentsRun(instance)) total.set(name, (total.get(name) ?? 0) + count);
    assert.deepEqual(Object.fromEntries(total), { jpeg: 1, webp: 1, avif: 1 }, 'each experiment ran exactly once in the cluster');
    assert.equal(origin.requests.filter((r) => r.url === '/photo0.jpg').length, 3, 'each instance fetched the original once');
  });
});
