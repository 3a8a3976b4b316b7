import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { ExperimentPool } from '../../src/images/experiment-pool.js';
import type { EngineSettings } from '../../src/images/experiment.js';
import { prepareOriginal } from '../../src/images/original.js';
import { EXPERIMENTS } from '../../src/images/plan.js';
import { alive, threadNiceness } from '../support/process-tree.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const SETTINGS: EngineSettings = { d: 0.002, quality: 80, minQuality: 20, maxQuality: 95, aiqaAll: false, losslessPng: false, avifEffort: 4 };
const LIMITS = { maxPixels: 50e6, maxFrames: 100 };
const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));

describe('experiments in processes of their own', () => {
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

  it('run at a lower priority than the proxy, libvips’ threads included', async () => {
    assert.ok((await pool.run('webp', photo, SETTINGS, LIMITS)).ok);
    assert.ok(pool.pids.length > 0);
    for (const pid of pool.pids) {
      const threads = threadNiceness(pid);
      assert.ok(threads.some((t) => t.name.startsWith('libvips')), `libvips threads among ${threads.map((t) => t.name).join(', ')}`);
      assert.deepEqual(threads.filter((t) => t.nice !== 10), [], 'every thread, those started before the process lowered its priority too');
    }
    assert.equal(threadNiceness(process.pid)[0]?.nice, 0, 'this process keeps its own priority');
  });

  it('a process that crashes fails its experiment with a reason and is replaced', async () => {
    const running = pool.run('avif', photo, SETTINGS, LIMITS);
    const [pid] = pool.pids.filter((p) => alive(p));
    assert.ok(pid !== undefined);
    const crashed = pool.pids;
    for (const p of crashed) process.kill(p, 'SIGSEGV');
    const outcome = await running;
    assert.deepEqual(outcome, { ok: false, reason: 'experiment process ended (SIGSEGV)', encodes: 0, ms: 0 });
    // (The idle one killed too is gone once the pool has handled its exit: the next task is not sent to it. Dead to
    // the system is not enough: until its exit is handled it still looks connected — see issue 18's notes.)
    while (crashed.some(alive) || pool.pids.some((p) => crashed.includes(p))) await new Promise((resolve) => setTimeout(resolve, 10));
    const next = await pool.run('jpeg', photo, SETTINGS, LIMITS);
    assert.ok(next.ok, `the next experiment runs in a new process: ${JSON.stringify(next)}`);
    assert.ok(pool.pids.every((p) => !crashed.includes(p)));
  });

  it('stops a task that runs past max-experiment-time, saying so, and replaces a process grown past its memory bound (hostile review)', async () => {
    // An AVIF search on a photo takes seconds here; 100 ms is far less. (A 7000×7000 noise image took 258 s.)
    const bounded = new ExperimentPool(1, undefined, { maxTaskMs: 100, maxRssBytes: Infinity });
    try {
      const started = Date.now();
      const running = bounded.run('avif', photo, SETTINGS, LIMITS);
      const [first] = bounded.pids;
      assert.ok(first !== undefined);
      assert.deepEqual(await running, { ok: false, reason: 'stopped after 0 s (max-experiment-time)', encodes: 0, ms: 0 });
      assert.ok(Date.now() - started < 5000, 'stopped, not finished');
      // The process was killed, not left to finish: the next task goes to another one.
      assert.ok(!alive(first), 'the overrunning process is gone');
      const next = bounded.run('avif', photo, SETTINGS, LIMITS);
      assert.ok(bounded.pids.length === 1 && !bounded.pids.includes(first), `a new process: ${first} → ${bounded.pids.join(", ")}`);
      assert.match(JSON.stringify(await next), /max-experiment-time/);
    } finally {
      await bounded.close();
    }
    // Every process over a bound of 1 byte after its task: none is kept for the next.
    const small = new ExperimentPool(1, undefined, { maxTaskMs: 60_000, maxRssBytes: 1 });
    try {
      assert.ok((await small.run('jpeg', photo, SETTINGS, LIMITS)).ok);
      const first = small.pids;
      assert.ok((await small.run('jpeg', photo, SETTINGS, LIMITS)).ok);
      assert.ok(small.pids.every((p) => !first.includes(p)), `a new process for the second task: ${first.join(", ")} → ${small.pids.join(", ")}`);
    } finally {
      await small.close();
    }
  });

  it('counts the CPU each experiment took in its process, and a close stops (not fails) what runs', async () => {
    const cpu: [string, number][] = [];
    const own = new ExperimentPool(1, (experiment, seconds) => cpu.push([experiment, seconds]));
    assert.ok((await own.run('jpeg', photo, SETTINGS, LIMITS)).ok);
    assert.equal(cpu.length, 1);
    assert.equal(cpu[0]![0], 'jpeg');
    assert.ok(cpu[0]![1] > 0.01, `${cpu[0]![1]} CPU s for a JPEG search over a photograph`);
    const running = own.run('avif', photo, SETTINGS, LIMITS);
    const queued = own.run('webp', photo, SETTINGS, LIMITS);
    await own.close();
    const stopped = { ok: false, reason: 'shutting down', encodes: 0, ms: 0 };
    assert.deepEqual(await running, stopped);
    assert.deepEqual(await queued, stopped);
    assert.deepEqual(own.pids, []);
  });

  it('work a request waits for goes ahead of waiting experiments, and only so much of it waits (hostile review, issue 16)', async () => {
    const one = new ExperimentPool(1);
    try {
      const order: string[] = [];
      const track = (name: string, outcome: Promise<{ ok: boolean; reason?: string }>) => outcome.then((o) => (order.push(name), o));
      const running = track('running', one.run('avif', photo, SETTINGS, LIMITS));
      const experiments = [1, 2].map((i) => track(`experiment ${i}`, one.run('jpeg', photo, SETTINGS, LIMITS)));
      const transform = { ...SETTINGS, transform: { format: 'png' as const, dpr: 1, algorithm: 'auto' as const } };
      const urgent = [1, 2, 3, 4].map((i) => track(`urgent ${i}`, one.run('transform', photo, transform, LIMITS, { urgent: true })));
      // A fifth would hold one more original in memory: refused at once, the proxy answers without it.
      const refused = await one.run('transform', photo, transform, LIMITS, { urgent: true });
      assert.deepEqual(refused, { ok: false, reason: 'too many conversions waiting for an image process', encodes: 0, ms: 0 });
      assert.equal(one.waiting, 6);
      const outcomes = await Promise.all([running, ...experiments, ...urgent]);
      assert.ok(outcomes.every((o) => o.ok));
      assert.deepEqual(order, ['running', 'urgent 1', 'urgent 2', 'urgent 3', 'urgent 4', 'experiment 1', 'experiment 2']);
    } finally {
      await one.close();
    }
  });

  it('turns a bad original into a reason', async () => {
    const outcome = await pool.run('jpeg', Buffer.from('<html>oops</html>'), SETTINGS, LIMITS);
    assert.deepEqual(outcome, { ok: false, reason: 'not an image', unusable: true, encodes: 0, ms: 0 });
  });
});
