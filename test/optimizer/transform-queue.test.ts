import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TransformQueue } from '../../src/optimizer/transform-queue.js';

/** Jobs the test finishes by hand, recording the order they start in. */
function manualJobs() {
  const started: string[] = [];
  /** Jobs started and not finished yet, in the order they started. */
  const open: { readonly key: string; readonly resolve: (value: string) => void; readonly reject: (err: Error) => void }[] = [];
  const take = (key: string) => open.splice(open.findIndex((job) => job.key === key), 1)[0]!;
  return {
    started,
    open,
    job: (key: string) => () => {
      started.push(key);
      return new Promise<string>((resolve, reject) => open.push({ key, resolve, reject }));
    },
    finish: (key: string) => take(key).resolve(`made ${key}`),
    fail: (key: string) => take(key).reject(new Error(`failed ${key}`)),
  };
}

/** Lets the queue's promise chains run (they are microtasks and one macrotask turn covers them all). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the transform queue (work made to order for requests)', () => {
  it('runs at most `concurrency`, lets at most `maxWaiting` wait in order, and refuses the rest at once', async () => {
    const queue = new TransformQueue<string>(2, 1);
    const jobs = manualJobs();
    assert.equal(queue.run('a', jobs.job('a')).kind, 'started');
    assert.equal(queue.run('b', jobs.job('b')).kind, 'queued');
    assert.equal(queue.run('c', jobs.job('c')).kind, 'queued');
    assert.equal(queue.run('d', jobs.job('d')).kind, 'full');
    await settle();
    assert.deepEqual(jobs.started, ['a'], 'only one at a time');
    assert.equal(queue.queued, 2);
    assert.equal(queue.running, 1);
    jobs.finish('a');
    await settle();
    assert.deepEqual(jobs.started, ['a', 'b'], 'the first waiting goes next');
    assert.equal(queue.run('d', jobs.job('d')).kind, 'queued', 'a place freed is a place for the next request');
    assert.equal(queue.run('e', jobs.job('e')).kind, 'full');
    for (const key of ['b', 'c', 'd']) {
      jobs.finish(key);
      await settle();
    }
    assert.deepEqual(jobs.started, ['a', 'b', 'c', 'd']);
    assert.equal(queue.queued, 0);
    assert.equal(queue.running, 0);
    assert.equal(queue.peakQueued, 2);
  });

  it('a request for a key waiting or running joins it: the same result, not counted again', async () => {
    const queue = new TransformQueue<string>(1, 1);
    const jobs = manualJobs();
    const running = queue.run('a', jobs.job('a'));
    const waiting = queue.run('b', jobs.job('b'));
    const joinedRunning = queue.run('a', jobs.job('a'));
    const joinedWaiting = queue.run('b', jobs.job('b'));
    assert.equal(joinedRunning.kind, 'joined');
    assert.equal(joinedWaiting.kind, 'joined', 'not refused: the queue is full, but this one is in it already');
    assert.equal(queue.queued, 1);
    assert.ok(running.kind === 'started' && waiting.kind === 'queued');
    assert.equal(joinedRunning.result, running.result);
    assert.equal(joinedWaiting.result, waiting.result);
    await settle();
    jobs.finish('a');
    await settle();
    jobs.finish('b');
    assert.equal(await joinedWaiting.result, 'made b');
    assert.deepEqual(jobs.started, ['a', 'b'], 'each made once');
    await settle();
    assert.equal(queue.run('a', jobs.job('a')).kind, 'started', 'a finished key is made again when asked again');
  });

  it('a job that fails, or throws before it starts anything, fails its requests and frees its place', async () => {
    const queue = new TransformQueue<string>(1, 1);
    const jobs = manualJobs();
    const failing = queue.run('a', jobs.job('a'));
    const throwing = queue.run('b', () => {
      throw new Error('at once');
    });
    const after = queue.run('c', jobs.job('c'));
    assert.equal(after.kind, 'full');
    await settle();
    jobs.fail('a');
    assert.ok(failing.kind !== 'full' && throwing.kind !== 'full');
    await assert.rejects(failing.result, /failed a/);
    await assert.rejects(throwing.result, /at once/);
    await settle();
    assert.equal(queue.running, 0);
    assert.equal(queue.queued, 0);
    assert.equal(queue.run('c', jobs.job('c')).kind, 'started');
  });

  it('any interleaving of requests and ends: never more waiting or running than allowed, every admitted job made once', async () => {
    const operation = fc.oneof(fc.record({ ask: fc.integer({ min: 0, max: 12 }) }), fc.record({ end: fc.nat() }));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 5 }), fc.array(operation, { maxLength: 60 }), async (concurrency, maxWaiting, operations) => {
        const queue = new TransformQueue<string>(maxWaiting, concurrency);
        const jobs = manualJobs();
        const admitted: string[] = [];
        const inQueue = new Set<string>();
        for (const op of operations) {
          if ('ask' in op) {
            const key = `k${op.ask}`;
            const before = queue.queued;
            const admission = queue.run(key, jobs.job(key));
            if (admission.kind === 'joined') assert.ok(inQueue.has(key), `${key} joined while not in the queue`);
            if (admission.kind === 'full') assert.equal(before, maxWaiting, 'refused with room left');
            if (admission.kind === 'started' || admission.kind === 'queued') {
              assert.ok(!inQueue.has(key), `${key} admitted twice at once`);
              admitted.push(key);
              inQueue.add(key);
              void admission.result.then(() => inQueue.delete(key));
            }
          } else {
            const victim = jobs.open[op.end % Math.max(1, jobs.open.length)];
            if (victim) jobs.finish(victim.key);
          }
          await settle();
          assert.ok(queue.queued <= maxWaiting, `${queue.queued} waiting, at most ${maxWaiting}`);
          assert.ok(queue.running <= concurrency, `${queue.running} running, at most ${concurrency}`);
          assert.equal(new Set(jobs.open.map((job) => job.key)).size, jobs.open.length, 'one job per key at once');
        }
        assert.ok(queue.peakQueued <= maxWaiting);
        // Whatever was admitted has started or is still waiting its turn: none lost, none made twice.
        assert.equal(jobs.started.length + queue.queued, admitted.length);
      }),
      { numRuns: 200 },
    );
  });
});
