/**
 * Scale out (issue "Scale out"): 200 photographs (256 px crops of the fixtures) asked for by 16 concurrent
 * clients until every one is final, through one instance on its own (the baseline) and through three instances
 * sharing one Redis behind a round-robin "load balancer" (and, to show what sharing saves, three without it). Prints the experiments run, the total CPU seconds of the
 * instances (process_cpu_seconds_total: all their threads) and the time until all images were final.
 * Usage: npm run bench:cluster
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import sharp from 'sharp';
import { fetchRaw } from '../test/support/client.js';
import { type ClusterInstance, instanceMetric, startInstance, stopInstances } from '../test/support/cluster.js';
import { startRedis } from '../test/support/redis.js';
import { runStage } from './support/process.js';

const IMAGES = 200;
const CLIENTS = 16;
const MARK = 'ic,webp,avif';

export interface ClusterRun {
  readonly instances: number;
  readonly experiments: number;
  /** Experiments each instance ran: how the work spread. */
  readonly experimentsPerInstance: readonly number[];
  readonly cpuSeconds: number;
  readonly secondsToFinal: number;
  readonly requests: number;
  readonly failed: number;
}

export interface ClusterResult {
  readonly images: number;
  readonly single: ClusterRun;
  readonly cluster: ClusterRun;
  /** Three instances without `<cluster>`: what sharing saves. */
  readonly apart: ClusterRun;
}

async function photographs(): Promise<Buffer[]> {
  const sources = ['raccoon.jpg', 'china.jpg', 'flower.jpg', 'earth-day.jpg', 'retina.jpg', 'rocket.jpg', 'hubble-deep-field.jpg'].map((f) => readFileSync(new URL(`../fixtures/photos/${f}`, import.meta.url)));
  const out: Buffer[] = [];
  for (let i = 0; i < IMAGES; i += 1) {
    const source = sources[i % sources.length]!;
    const { width = 0, height = 0 } = await sharp(source).metadata();
    const left = Math.floor((((i * 37) % 23) / 23) * Math.max(0, width - 256));
    const top = Math.floor((((i * 53) % 19) / 19) * Math.max(0, height - 171));
    out.push(await sharp(source).extract({ left, top, width: 256, height: 171 }).jpeg({ quality: 92 }).toBuffer());
  }
  return out;
}

async function run(originUrl: URL, count: number, redisUrl: string | undefined): Promise<ClusterRun> {
  const instances: ClusterInstance[] = [];
  for (let i = 0; i < count; i += 1) instances.push(await startInstance(`bench-${i}`, originUrl, redisUrl, '', '<limits max-image-processes="2"/>'));
  // The proxy's own CPU and its experiment processes'.
  const cpuOf = async (instance: ClusterInstance) => (await instanceMetric(instance, 'process_cpu_seconds_total')) + (await instanceMetric(instance, 'slimproxy_experiment_cpu_seconds_total'));
  const cpuBefore = await Promise.all(instances.map(cpuOf));
  const started = performance.now();
  let next = 0;
  let requests = 0;
  let failed = 0;
  const final = new Set<number>();
  // Rounds: every image not yet final is asked for once (16 clients, round-robin over the instances), then the
  // instances finish what was queued.
  while (final.size < IMAGES) {
    const pending = [...Array(IMAGES).keys()].filter((i) => !final.has(i));
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let image = pending.shift(); image !== undefined; image = pending.shift()) {
          const instance = instances[next++ % instances.length]!;
          const response = await fetchRaw(new URL(`/photo${image}.jpg?m=${MARK}`, instance.proxy.url));
          requests += 1;
          if (response.status !== 200) failed += 1;
          if (String(response.headers['cache-control']).startsWith('public')) final.add(image);
        }
      }),
    );
    await Promise.all(instances.map((instance) => fetchRaw(new URL('api/idle', instance.admin))));
  }
  const secondsToFinal = (performance.now() - started) / 1000;
  const cpuAfter = await Promise.all(instances.map(cpuOf));
  const experimentsPerInstance = await Promise.all(instances.map((instance) => instanceMetric(instance, 'slimproxy_experiments_total')));
  await stopInstances(instances);
  return {
    instances: count,
    experiments: experimentsPerInstance.reduce((a, b) => a + b, 0),
    experimentsPerInstance,
    cpuSeconds: cpuAfter.reduce((sum, value, i) => sum + value - cpuBefore[i]!, 0),
    secondsToFinal,
    requests,
    failed,
  };
}

export async function benchCluster(): Promise<ClusterResult> {
  const images = await photographs();
  const origin = createServer((req, res) => {
    const index = Number(/^\/photo(\d+)\.jpg/.exec(req.url ?? '')?.[1]);
    const bytes = images[index];
    res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const originUrl = new URL(`http://127.0.0.1:${(origin.address() as AddressInfo).port}/`);
  const redis = await startRedis();
  try {
    const single = await run(originUrl, 1, undefined);
    const cluster = await run(originUrl, 3, redis.url);
    const apart = await run(originUrl, 3, undefined);
    return { images: IMAGES, single, cluster, apart };
  } finally {
    await redis.stop();
    origin.close();
  }
}

await runStage(import.meta.url, () => benchCluster(), (result) => {
  console.log(`\nAll instances share this machine's ${cpus().length} cores: with more instances than cores, the time until final cannot drop here.`);
  console.log(`${result.images} photographs (256×171), mark ${MARK}, ${CLIENTS} concurrent clients, until every one is final:`);
  const row = (r: ClusterRun) => ({
    experiments: r.experiments,
    'per instance': r.experimentsPerInstance.join(' / '),
    'CPU s (all instances)': +r.cpuSeconds.toFixed(1),
    's until all final': +r.secondsToFinal.toFixed(1),
    requests: r.requests,
    failed: r.failed,
  });
  console.table({
    '1 instance (baseline)': row(result.single),
    '3 instances + Redis': { ...row(result.cluster), 'CPU ratio': +(result.cluster.cpuSeconds / result.single.cpuSeconds).toFixed(2) },
    '3 instances, no cluster': { ...row(result.apart), 'CPU ratio': +(result.apart.cpuSeconds / result.single.cpuSeconds).toFixed(2) },
  });
});
