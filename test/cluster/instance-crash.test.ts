import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { dssim } from '../../src/images/dssim.js';
import { decodeRgba } from '../../src/images/rgba.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { spawnProxy, type SpawnedProxy, testConfigXml, waitForLog, writeTempConfig } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const photo = readFileSync(new URL('../../fixtures/photos/hubble-deep-field.jpg', import.meta.url));

interface Instance {
  readonly proxy: SpawnedProxy;
  readonly admin: URL;
}

/** Experiments this instance ran, by name, from its /metrics. */
async function experimentsRun(instance: Instance): Promise<Record<string, number>> {
  const text = (await fetchRaw(new URL('metrics', instance.admin))).body.toString();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^slimproxy_experiments_total\{experiment="([^"]+)",outcome="[^"]+"\} (\d+)$/gm)) counts[match[1]!] = (counts[match[1]!] ?? 0) + Number(match[2]);
  return counts;
}

describe('<cluster>: an instance killed during an experiment', () => {
  let redis: TestRedis;
  let origin: TestOrigin;
  const instances: Instance[] = [];
  before(async () => {
    redis = await startRedis({ expiryEvents: true });
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(photo);
    });
    for (const name of ['a', 'b', 'c']) {
      const config = writeTempConfig(testConfigXml({ origin: origin.url, elements: `<image-compression/><cluster redis="${redis.url}" instance="${name}" lease="2"/>` }));
      const proxy = await spawnProxy(config);
      const line = await waitForLog(proxy, (l) => typeof l.admin === 'string');
      instances.push({ proxy, admin: new URL(String(line.admin)) });
    }
  });
  after(async () => {
    for (const { proxy } of instances) if (proxy.child.exitCode === null) proxy.child.kill('SIGTERM');
    await Promise.all(instances.map(({ proxy }) => proxy.exited));
    await origin.close();
    await redis.stop();
  });

  it('leaves its experiment to another instance once the lease lapses; the image still becomes final, nothing corrupt', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
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
