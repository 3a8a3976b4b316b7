import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { ExperimentPool } from '../../src/images/experiment-pool.js';
import type { EngineSettings } from '../../src/images/experiment.js';
import { prepareOriginal } from '../../src/images/original.js';
import { EXPERIMENTS } from '../../src/images/plan.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const SETTINGS: EngineSettings = { d: 0.002, quality: 80, minQuality: 20, maxQuality: 95, aiqaAll: false, losslessPng: false, avifEffort: 4 };
const LIMITS = { maxPixels: 50e6, maxFrames: 100 };
const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));

describe('experiments in worker threads', () => {
  const pool = new ExperimentPool(2);
  after(() => pool.close());

  it('give the same result as in this thread, while the event loop keeps turning', async () => {
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 1);
    const inWorker = await pool.run('jpeg', photo, SETTINGS, LIMITS);
    clearInterval(ticker);
    const prepared = await prepareOriginal(photo, LIMITS);
    assert.ok(prepared.ok);
    const here = await EXPERIMENTS.jpeg.run(prepared.original, SETTINGS);
    assert.ok(inWorker.ok && here.ok);
    assert.equal(inWorker.variant.quality, here.variant.quality);
    assert.equal(inWorker.variant.dssim, here.variant.dssim);
    assert.deepEqual(inWorker.variant.bytes, here.variant.bytes);
    assert.ok(Buffer.isBuffer(inWorker.variant.bytes));
    assert.ok(ticks > 5, `the event loop ran ${ticks} timer ticks during the experiment`);
  });

  it('runs at most its size at once and answers every task', async () => {
    const tasks = ['jpeg', 'webp', 'avif', 'jpeg'].map((name) => pool.run(name as 'jpeg', photo, SETTINGS, LIMITS));
    assert.ok(pool.running <= 2);
    assert.equal(pool.running + pool.waiting, 4);
    const outcomes = await Promise.all(tasks);
    assert.ok(outcomes.every((o) => o.ok));
  });

  it('turns a bad original into a reason', async () => {
    const outcome = await pool.run('jpeg', Buffer.from('<html>oops</html>'), SETTINGS, LIMITS);
    assert.deepEqual(outcome, { ok: false, reason: 'not an image', unusable: true, encodes: 0, ms: 0 });
  });
});
