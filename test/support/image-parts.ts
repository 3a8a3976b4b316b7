import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import type { ImageRouteParts } from '../../src/http/image/parts.js';
import { MemoryBudget } from '../../src/http/memory-budget.js';
import { ExperimentPool } from '../../src/images/experiment-pool.js';
import { engineSettings } from '../../src/images/settings.js';
import { createLogger } from '../../src/observability/log.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { ExperimentQueue } from '../../src/optimizer/experiment-queue.js';
import { OriginFetcher } from '../../src/proxy/origin-fetch.js';
import { ImageStore } from '../../src/store/image-store.js';

/**
 * The parts the image route's steps are built from, real ones (a store in a temporary directory, one experiment
 * process, an origin fetcher), for testing a step on its own. `close` ends what they started.
 */
export function imageParts(origin: URL, overrides: Partial<ImageRouteParts> = {}): ImageRouteParts & { close(): Promise<void> } {
  const config = parseConfig(`<config><origin url="${origin.href}"/><image-compression/></config>`, 'test.xml');
  const store = new ImageStore(join(mkdtempSync(join(tmpdir(), 'slimproxy-steps-')), 'store'), 256 * 2 ** 20);
  const pool = new ExperimentPool(1);
  const queue = new ExperimentQueue(1, 100);
  const parts: ImageRouteParts = {
    store,
    queue,
    pool,
    fetcher: new OriginFetcher(origin, 5000),
    settings: engineSettings(config.imageCompression!),
    limits: { maxPixels: 50e6, maxFrames: 1000 },
    intervalSeconds: 0,
    heuristicMaxAgeSeconds: 0,
    interimSeconds: 60,
    hostMode: 'origin',
    maxOriginalBytes: 64 * 2 ** 20,
    budget: new MemoryBudget(64 * 2 ** 20),
    maxTransformsWaiting: config.imageApi.maxQueue,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    ...overrides,
  };
  return {
    ...parts,
    async close() {
      queue.close();
      await pool.close();
      await store.close();
    },
  };
}
