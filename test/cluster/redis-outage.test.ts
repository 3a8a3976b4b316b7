import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { type ClusterInstance, startInstance, startInstances, stopInstances } from '../support/cluster.js';
import { type LogLine, PROJECT_ROOT, type SpawnedProxy, waitForLog } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const photos = ['night-lights.jpg', 'launch-poster.jpg', 'chelsea-p3.jpg'].map((name) => readFileSync(new URL(`fixtures/site/img/photos/${name}`, PROJECT_ROOT)));
const JOINED = 'cluster: joined (Redis available)';
const LOCAL_ONLY = 'cluster: Redis unavailable, serving in local-only mode until it returns';

/** The next log line with this message, written after the call. */
function nextLog(proxy: SpawnedProxy, msg: string): Promise<LogLine> {
  const from = proxy.lines.length;
  return waitForLog(proxy, (line) => line.msg === msg && proxy.lines.indexOf(line) >= from);
}

describe('<cluster>: Redis going away and coming back, instances as processes', () => {
  let redis: TestRedis;
  let origin: TestOrigin;
  let instances: ClusterInstance[] = [];
  before(async () => {
    redis = await startRedis();
    origin = await startOrigin((req, res) => {
      const bytes = photos[Number(/^\/photo(\d)\.jpg/.exec(req.url ?? '')?.[1])];
      res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(bytes);
    });
    instances = await startInstances(['a', 'b', 'c'], origin.url, redis.url);
  });
  after(async () => {
    await stopInstances(instances);
    await origin.close();
    await redis.stop();
  });

  it('fails no response while Redis stops under load, goes local-only (log, metric, status), and rejoins', async () => {
    const leaving = instances.map(({ proxy }) => nextLog(proxy, LOCAL_ONLY));
    const statuses: number[] = [];
    let stopped: Promise<void> | undefined;
    await Promise.all(
      instances.map(async (instance, i) => {
        for (let n = 0; n < 8; n += 1) {
          if (i === 0 && n === 2) stopped = redis.stop(true);
          const path = n % 2 === 0 ? '/photo0.jpg?m=ic,webp,avif' : `/photo${1 + ((i + n) % 2)}.jpg?m=ic,webp`;
          statuses.push((await fetchRaw(new URL(path, instance.proxy.url))).status);
        }
      }),
    );
    await stopped;
    await Promise.all(leaving);
    assert.deepEqual([...new Set(statuses)], [200], 'no failed response');
    for (const { proxy, admin } of instances) {
      const metrics = (await fetchRaw(new URL('metrics', admin))).body.toString();
      assert.match(metrics, /^slimproxy_cluster_connected 0$/m);
      const status = JSON.parse((await fetchRaw(new URL('api/status', admin))).body.toString()) as { cluster?: { connected: boolean } };
      assert.deepEqual(status.cluster, { connected: false });
      assert.equal(proxy.lines.filter((line) => line.msg === LOCAL_ONLY).length, 1, 'logged once');
    }
    const joining = instances.map(({ proxy }) => nextLog(proxy, JOINED));
    await redis.restart();
    await Promise.all(joining);
    for (const { proxy, admin } of instances) {
      assert.match((await fetchRaw(new URL('metrics', admin))).body.toString(), /^slimproxy_cluster_connected 1$/m);
      assert.equal((await fetchRaw(new URL('/photo0.jpg?m=ic,webp,avif', proxy.url))).status, 200);
    }
  });

  it('a hung Redis (connections open, no answers) is left after a few timed-out commands, and rejoined when it answers', { timeout: 60_000 }, async () => {
    const leaving = instances.map(({ proxy }) => nextLog(proxy, LOCAL_ONLY));
    const joining = instances.map(({ proxy }) => nextLog(proxy, JOINED));
    redis.pause();
    try {
      // Requests keep coming: each instance notices its commands time out, and stops waiting on Redis.
      let left = false;
      void Promise.all(leaving).then(() => (left = true));
      const statuses: number[] = [];
      for (let n = 0; !left; n += 1) {
        const instance = instances[n % instances.length]!;
        statuses.push((await fetchRaw(new URL(`/photo${n % 3}.jpg?m=ic,webp,avif`, instance.proxy.url))).status);
      }
      assert.deepEqual([...new Set(statuses)], [200], 'no failed response');
      for (const { proxy, admin } of instances) {
        assert.match((await fetchRaw(new URL('metrics', admin))).body.toString(), /^slimproxy_cluster_connected 0$/m);
        assert.equal((await fetchRaw(new URL('/photo0.jpg?m=ic,webp,avif', proxy.url))).status, 200);
      }
    } finally {
      redis.resume();
    }
    await Promise.all(joining);
    for (const { admin } of instances) assert.match((await fetchRaw(new URL('metrics', admin))).body.toString(), /^slimproxy_cluster_connected 1$/m);
  });
});

describe('<cluster>: Redis away when an instance starts', () => {
  let redis: TestRedis;
  let origin: TestOrigin;
  let instance: ClusterInstance | undefined;
  before(async () => {
    // A port that was Redis's: nothing listens there until the restart below.
    redis = await startRedis();
    await redis.stop();
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(photos[0]);
    });
  });
  after(async () => {
    if (instance) await stopInstances([instance]);
    await origin.close();
    await redis.stop();
  });

  it('serves in local-only mode (log once, metric, status), runs experiments locally, and joins when Redis starts', { timeout: 60_000 }, async () => {
    instance = await startInstance('lonely', origin.url, redis.url);
    const { proxy, admin } = instance;
    await waitForLog(proxy, (line) => line.msg === LOCAL_ONLY);
    // The plan for a JPEG and ic,webp: jpeg, webp; one experiment per request.
    for (let n = 0; n < 2; n += 1) {
      assert.equal((await fetchRaw(new URL('/photo0.jpg?m=ic,webp', proxy.url))).status, 200);
      await fetchRaw(new URL('api/idle', admin));
    }
    const final = await fetchRaw(new URL('/photo0.jpg?m=ic,webp', proxy.url));
    assert.equal(final.headers['cache-control'], 'public, no-transform, max-age=600', 'final through the local queue alone');
    assert.match((await fetchRaw(new URL('metrics', admin))).body.toString(), /^slimproxy_cluster_connected 0$/m);
    const status = JSON.parse((await fetchRaw(new URL('api/status', admin))).body.toString()) as { cluster?: { connected: boolean } };
    assert.deepEqual(status.cluster, { connected: false });
    assert.equal(proxy.lines.filter((line) => line.msg === LOCAL_ONLY).length, 1, 'logged once, not at every retry');
    const joining = nextLog(proxy, JOINED);
    await redis.restart();
    await joining;
    assert.match((await fetchRaw(new URL('metrics', admin))).body.toString(), /^slimproxy_cluster_connected 1$/m);
  });
});
