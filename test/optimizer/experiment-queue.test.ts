import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExperimentQueue } from '../../src/optimizer/experiment-queue.js';

/** A job the test finishes by hand, recording when it started. */
function manualJob(started: string[], key: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    run: () => {
      started.push(key);
      return done;
    },
    finish: () => finish(),
  };
}

describe('the experiment queue', () => {
  it('runs the most requested first, at most `concurrency` at once', async () => {
    const queue = new ExperimentQueue(1, 100);
    const started: string[] = [];
    const blocker = manualJob(started, 'first');
    queue.offer('first', 1, blocker.run);
    const jobs = new Map<string, ReturnType<typeof manualJob>>();
    for (const [key, count] of [['a', 1], ['b', 5], ['c', 3], ['d', 5]] as const) {
      const job = manualJob(started, key);
      jobs.set(key, job);
      assert.equal(queue.offer(key, count, job.run), 'queued');
    }
    assert.equal(queue.running, 1);
    assert.equal(queue.queued, 4);
    blocker.finish();
    for (const key of ['b', 'd', 'c', 'a']) {
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(started.at(-1), key);
      assert.equal(queue.running, 1);
      jobs.get(key)!.finish();
    }
    await queue.idle();
    assert.deepEqual(started, ['first', 'b', 'd', 'c', 'a']);
  });

  it('never runs the same key twice at once, and a new request raises a queued job', async () => {
    const queue = new ExperimentQueue(1, 100);
    const started: string[] = [];
    const running = manualJob(started, 'x');
    queue.offer('x', 1, running.run);
    assert.equal(queue.offer('x', 9, manualJob(started, 'x').run), 'already running');
    const low = manualJob(started, 'low');
    const rising = manualJob(started, 'rising');
    queue.offer('low', 2, low.run);
    queue.offer('rising', 1, rising.run);
    assert.equal(queue.offer('rising', 3, rising.run), 'reprioritised');
    running.finish();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(started.at(-1), 'rising');
    rising.finish();
    await new Promise((resolve) => setImmediate(resolve));
    low.finish();
    await queue.idle();
  });

  it('is bounded: the least requested job gives way', () => {
    const queue = new ExperimentQueue(0, 3);
    const never = () => new Promise<void>(() => undefined);
    queue.offer('a', 1, never);
    queue.offer('b', 2, never);
    queue.offer('c', 3, never);
    assert.equal(queue.offer('d', 1, never), 'queue full');
    assert.equal(queue.offer('e', 5, never), 'queued');
    assert.equal(queue.queued, 3);
    assert.equal(queue.offer('a', 1, never), 'queue full', 'a was the one that gave way');
  });

  it('keeps going when a job fails', async () => {
    const queue = new ExperimentQueue(1, 10);
    let ran = false;
    queue.offer('bad', 2, () => Promise.reject(new Error('boom')));
    queue.offer('good', 1, () => {
      ran = true;
      return Promise.resolve();
    });
    await queue.idle();
    assert.ok(ran);
  });
});
