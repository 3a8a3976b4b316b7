import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { dssim } from '../../src/images/dssim.js';
import { decodeRgba } from '../../src/images/rgba.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { type ClusterInstance, experimentsRun, startInstances, stopInstances } from '../support/cluster.js';
import { waitForLog } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const photo = readFileSync(new URL('../../fixtures/photos/hubble-deep-field.jpg', import.meta.url));

describe('<cluster>: an instance killed during an experiment', () => {
  let redis: TestRedis;
  let origin: TestOrigin;
  let instances: ClusterInstance[] = [];
  before(async () => {
    redis = await startRedis({ expiryEvents: true });
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(photo);
    });
    instances = await startInstances(['a', 'b', 'c'], origin.url, redis.url, 'lease="2"');
  });
  after(async () => {
    await stopInstances(instances);
    await origin.close();
    await redis.stop();
  });

  it('leaves its experiment to another instance once the lease lapses; the image still becomes final, nothing corrupt', async () => {
    const [a, b, c] = instances as [ClusterInstance, ClusterInstance, ClusterInstance];
    const path = '/hubble.jpg?m=ic,webp,avif';
    assert.equal((await fetchRaw(new URL(path, a.proxy.url))).status, 200);
    const started = await waitForLog(a.proxy, (line) => line.msg === 'experiment started under a cluster lease');
    const experiment = String(started.experiment);

    const events = new Redis(redis.url);
    await events.subscribe('__keyevent@0__:expired');
    const lapsed = new Promise<void>((resolve) => events.on('message', (_channel: string, key: string) => key.endsWith(`\u0000${experiment}`) && resolve()));
    a.proxy.child.kill('SIGKILL');
    await a.proxy.exited;
    await lapsed;
    events.disconnect();

    const survivors = [b, c];
    let finals: Awaited<ReturnType<typeof fetchRaw>>[] = [];
    for (let round = 0; round < 8; round += 1) {
      finals = [];
      for (const instance of survivors) finals.push(await fetchRaw(new URL(path, instance.proxy.url)));
      if (finals.every((response) => String(response.headers['cache-control']).startsWith('public'))) break;
      await Promise.all(survivors.map((instance) => fetchRaw(new URL('api/idle', instance.admin))));
    }
    for (const final of finals) {
      assert.equal(final.headers['cache-control'], 'public, no-transform, max-age=600');
      assert.deepEqual(final.body, finals[0]!.body);
    }
    // Not corrupt: it decodes, to the original's size, within d.
    const measured = dssim(await decodeRgba(photo), await decodeRgba(finals[0]!.body));
    assert.ok(measured <= 0.002, `DSSIM ${measured}`);
    const ran = [await experimentsRun(b), await experimentsRun(c)];
    assert.equal((ran[0]![experiment] ?? 0) + (ran[1]![experiment] ?? 0), 1, `${experiment} ran once more, on a surviving instance`);
  });
});
