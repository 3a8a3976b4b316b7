import { Redis } from 'ioredis';
import { fetchRaw } from './client.js';
import { metricSamples, metricSum } from './metrics-text.js';
import { startOrigin, type TestOrigin } from './origin.js';
import { spawnProxy, type SpawnedProxy, testConfigXml, waitForLog, writeTempConfig } from './proxy.js';
import { startRedis, type TestRedis } from './redis.js';

/** A slimproxy process of a test cluster, with its admin address (for /metrics, /api/status, /api/idle). */
export interface ClusterInstance {
  readonly proxy: SpawnedProxy;
  readonly admin: URL;
}

/**
 * Starts one slimproxy process in front of `origin` with compression, `elements`, and `<cluster>` on `redisUrl`
 * (Redis may be away; without a URL, an instance on its own).
 */
export async function startInstance(name: string, origin: URL, redisUrl: string | undefined, clusterAttributes = '', elements = ''): Promise<ClusterInstance> {
  const cluster = redisUrl === undefined ? '' : `<cluster redis="${redisUrl}" instance="${name}" ${clusterAttributes}/>`;
  const proxy = await spawnProxy(writeTempConfig(testConfigXml({ origin, elements: `<image-compression/>${cluster}${elements}` })));
  const admin = new URL(String((await waitForLog(proxy, (line) => typeof line.admin === 'string')).admin));
  return { proxy, admin };
}

/**
 * Starts slimproxy processes, one per name (see `startInstance`; `elementsOf(name)` adds elements), and resolves
 * once every one has joined.
 */
export async function startInstances(names: readonly string[], origin: URL, redisUrl: string, clusterAttributes = '', elementsOf: (name: string) => string = () => ''): Promise<ClusterInstance[]> {
  const instances: ClusterInstance[] = [];
  for (const name of names) {
    const instance = await startInstance(name, origin, redisUrl, clusterAttributes, elementsOf(name));
    await waitForLog(instance.proxy, (line) => line.msg === 'cluster: joined (Redis available)');
    instances.push(instance);
  }
  return instances;
}

/** Stops the processes still running (SIGTERM) and resolves when all have exited. */
export async function stopInstances(instances: readonly ClusterInstance[]): Promise<void> {
  for (const { proxy } of instances) if (proxy.child.exitCode === null && proxy.child.signalCode === null) proxy.child.kill('SIGTERM');
  await Promise.all(instances.map(({ proxy }) => proxy.exited));
}

/** A metric of this instance, summed over its label sets. */
export async function instanceMetric(instance: ClusterInstance, name: string): Promise<number> {
  return metricSum((await fetchRaw(new URL('metrics', instance.admin))).body.toString(), name);
}

/** Experiments this instance ran, by name, from its /metrics. */
export async function experimentsRun(instance: ClusterInstance): Promise<Record<string, number>> {
  const text = (await fetchRaw(new URL('metrics', instance.admin))).body.toString();
  const counts: Record<string, number> = {};
  for (const { labels, value } of metricSamples(text, 'slimproxy_experiments_total')) counts[labels.experiment!] = (counts[labels.experiment!] ?? 0) + value;
  return counts;
}

/** Three instances (a, b, c) on one Redis, a client of that Redis for the test, one origin of JPEGs by path. */
export interface JpegCluster {
  readonly redis: TestRedis;
  readonly client: Redis;
  readonly origin: TestOrigin;
  readonly instances: ClusterInstance[];
  /** Every instance has run what it queued (its /api/idle answers when its queue is empty). */
  idle(): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startJpegCluster(images: Readonly<Record<string, Buffer>>): Promise<JpegCluster> {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  const origin = await startOrigin((req, res) => {
    const bytes = images[(req.url ?? '').split('?')[0]!];
    res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
    res.end(bytes);
  });
  const instances = await startInstances(['a', 'b', 'c'], origin.url, redis.url);
  return {
    redis,
    client,
    origin,
    instances,
    idle: () => Promise.all(instances.map((instance) => fetchRaw(new URL('api/idle', instance.admin)))),
    async stop() {
      await stopInstances(instances);
      client.disconnect();
      await origin.close();
      await redis.stop();
    },
  };
}
