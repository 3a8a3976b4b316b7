import { fetchRaw } from './client.js';
import { spawnProxy, type SpawnedProxy, testConfigXml, waitForLog, writeTempConfig } from './proxy.js';

/** A slimproxy process of a test cluster, with its admin address (for /metrics, /api/status, /api/idle). */
export interface ClusterInstance {
  readonly proxy: SpawnedProxy;
  readonly admin: URL;
}

/** Starts one slimproxy process in front of `origin` with `<cluster>` on `redisUrl` and compression (Redis may be away). */
export async function startInstance(name: string, origin: URL, redisUrl: string, clusterAttributes = '', elements = ''): Promise<ClusterInstance> {
  const xml = testConfigXml({ origin, elements: `<image-compression/><cluster redis="${redisUrl}" instance="${name}" ${clusterAttributes}/>${elements}` });
  const proxy = await spawnProxy(writeTempConfig(xml));
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

/** Experiments this instance ran, by name, from its /metrics. */
export async function experimentsRun(instance: ClusterInstance): Promise<Record<string, number>> {
  const text = (await fetchRaw(new URL('metrics', instance.admin))).body.toString();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^slimproxy_experiments_total\{experiment="([^"]+)",outcome="[^"]+"\} (\d+)$/gm)) counts[match[1]!] = (counts[match[1]!] ?? 0) + Number(match[2]);
  return counts;
}
