/**
 * Serving under load (issue "Serve marked images", acceptance 8). In one run:
 *   1. 64 connections for 30 s over 50 marked images while their experiments run: failed responses and the proxy's
 *      event-loop delay (p99);
 *   2. once every image is final: requests/s for the final images, against plain pass-through of the same
 *      originals through a proxy without compression (the baseline), same connections and duration.
 * The load comes from a separate process (bench/load-client.ts). Usage: npm run bench:serve [-- --seconds N]
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/observability/log.js';
import { startSlimproxy } from '../src/slimproxy.js';
import { peakRssMb, resetPeakRss, runStage } from './support/process.js';

const root = new URL('../', import.meta.url);

export interface ServeResult {
  readonly images: number;
  readonly connections: string;
  readonly seconds: string;
  readonly during: LoadResult;
  readonly eventLoopP99Ms: number;
  readonly passThrough: LoadResult;
  readonly final: LoadResult;
  readonly finals: number;
  readonly originalKb: number;
  /** This process (both proxies, experiment workers, origin): after start, and at its peak, MB. */
  readonly startRssMb: number;
  readonly peakRssMb: number;
}

interface LoadResult {
  readonly requests: number;
  readonly total: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly bytes: number;
}

export async function benchServe(SECONDS = '30', CONNECTIONS = '64'): Promise<ServeResult> {
  // 50 photographs: crops of the demo site's pictures, 480×320, as a legacy site would have saved them.
  const sources = ['raccoon.jpg', 'china.jpg', 'flower.jpg', 'earth-day.jpg', 'retina.jpg'].map((f) => readFileSync(new URL(`fixtures/photos/${f}`, root)));
  const images = new Map<string, Buffer>();
  for (let i = 0; i < 50; i += 1) {
    const source = sources[i % sources.length]!;
    const { width = 0, height = 0 } = await sharp(source).metadata();
    const left = Math.floor(((i * 37) % 10) / 10 * Math.max(0, width - 480));
    const top = Math.floor(((i * 53) % 10) / 10 * Math.max(0, height - 320));
    images.set(`/photo${i}.jpg`, await sharp(source).extract({ left, top, width: Math.min(480, width), height: Math.min(320, height) }).jpeg({ quality: 92 }).toBuffer());
  }

  const origin = createServer((req, res) => {
    const bytes = images.get(req.url ?? '');
    res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600', 'Content-Length': bytes?.length ?? 0 });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`;

  const silent = createLogger('error');
  const config = (elements: string) =>
    parseConfig(`<config><listen address="127.0.0.1" port="0"/><origin url="${originUrl}"/><admin enabled="false"/>${elements}</config>`, 'bench.xml');
  const store = mkdtempSync(join(tmpdir(), 'slimproxy-bench-store-'));
  const proxy = await startSlimproxy(config(`<image-compression/><store path="${store}" max-size="1GiB"/><limits max-image-processes="2"/>`), silent);
  const plain = await startSlimproxy(config(''), silent);
  resetPeakRss();
  const startRssMb = peakRssMb();

  const paths = [...images.keys()];
  // Asynchronously: the proxy under test answers on this process's event loop meanwhile.
  async function load(base: URL, query: string, seconds: string) {
    const urls = paths.map((p) => new URL(`${p}${query}`, base).href);
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/load-client.ts', seconds, CONNECTIONS, ...urls], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
    return JSON.parse(stdout) as { requests: number; total: number; non2xx: number; errors: number; timeouts: number; bytes: number };
  }

  // 1. While experiments run.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const during = await load(proxy.url, '?m=ic,webp,avif', SECONDS);
  delay.disable();

  // Every image to final: each request runs its next experiment.
  let finals = 0;
  for (let round = 0; round < 6 && finals < paths.length; round += 1) {
    finals = 0;
    for (const path of paths) {
      const res = await fetch(new URL(`${path}?m=ic,webp,avif`, proxy.url));
      await res.arrayBuffer();
      if (res.headers.get('cache-control')?.startsWith('public')) finals += 1;
    }
    await proxy.experimentsIdle();
  }

  // 2. Final images against plain pass-through of the same originals.
  const final = await load(proxy.url, '?m=ic,webp,avif', String(Math.max(10, Number(SECONDS) / 3)));
  const passThrough = await load(plain.url, '', String(Math.max(10, Number(SECONDS) / 3)));
  const bytesOriginal = [...images.values()].reduce((sum, bytes) => sum + bytes.length, 0);
  await proxy.stop(5000);
  await plain.stop(1000);
  origin.close();
  return { images: paths.length, connections: CONNECTIONS, seconds: SECONDS, during, eventLoopP99Ms: delay.percentile(99) / 1e6, passThrough, final, finals, originalKb: bytesOriginal / 1024, startRssMb, peakRssMb: peakRssMb() };
}

await runStage(
  import.meta.url,
  (args) => {
    const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '30' }, connections: { type: 'string', default: '64' } } });
    return benchServe(values.seconds, values.connections);
  },
  ({ images: count, during, passThrough, final, finals, eventLoopP99Ms, originalKb, connections, seconds, startRssMb, peakRssMb }) => {
  console.log(`\nServing ${count} photographs, ${connections} connections (load from a separate process; origin and proxy in this one):`);
  console.table({
    [`while experiments run (${seconds} s)`]: {
      'req/s': Math.round(during.requests),
      failed: during.non2xx + during.errors + during.timeouts,
      'event-loop delay p99 ms': +eventLoopP99Ms.toFixed(1),
      'ratio to pass-through': +(during.requests / passThrough.requests).toFixed(2),
    },
    'plain pass-through (baseline)': { 'req/s': Math.round(passThrough.requests), failed: passThrough.non2xx + passThrough.errors + passThrough.timeouts, 'event-loop delay p99 ms': '', 'ratio to pass-through': 1 },
    [`final images (${finals}/${count} final)`]: {
      'req/s': Math.round(final.requests),
      failed: final.non2xx + final.errors + final.timeouts,
      'event-loop delay p99 ms': '',
      'ratio to pass-through': +(final.requests / passThrough.requests).toFixed(2),
    },
  });
  console.log(`originals ${originalKb.toFixed(0)} KB in all; throughput final ${(final.bytes / 1e6).toFixed(1)} MB/s, pass-through ${(passThrough.bytes / 1e6).toFixed(1)} MB/s`);
    console.log(`RSS ${startRssMb.toFixed(0)} MB after start, peak ${peakRssMb.toFixed(0)} MB`);
  },
);
