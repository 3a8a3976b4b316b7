import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisLink } from '../../src/cluster/redis-link.js';
import { type OfferedExperiment, SharedImages } from '../../src/cluster/shared-images.js';
import { createLogger } from '../../src/observability/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const job = (n: number): OfferedExperiment => ({ key: `/photo${n}.jpg`, mark: 'ic', experiment: 'jpeg', originalDigest: `digest${n}` });

describe('<cluster>: the queue of offered experiments', () => {
  let redis: TestRedis;
  let link: RedisLink;
  before(async () => {
    redis = await startRedis();
    link = new RedisLink(redis.url, 'test', createLogger('silent'), () => undefined);
    await link.joined();
  });
  after(async () => {
    link.close();
    await redis.stop();
  });

  it('is taken most requested first, keeps a job’s highest count, and holds at most its bound', async () => {
    const shared = new SharedImages(link, { namespace: 'test', maxOffered: 3 });
    for (const n of [2, 5, 1, 4, 3]) await shared.offer(job(n), n);
    // Offered again with fewer requests: the count it had stays.
    await shared.offer(job(5), 1);
    const taken = [await shared.take(), await shared.take(), await shared.take(), await shared.take()];
    // Only the three most requested were kept; the others are still in their makers' local queues.
    assert.deepEqual(taken, [job(5), job(4), job(3), undefined]);
  });

  it('wakes idle instances once per job, not at every offer of it', async () => {
    const shared = new SharedImages(link, { namespace: 'wake', maxOffered: 3 });
    const channel = 'sp:v2:wake:offered';
    const listener = new Redis(redis.url);
    const messages: string[] = [];
    const ended = new Promise<void>((resolve) =>
      listener.on('message', (_channel: string, message: string) => {
        messages.push(message);
        if (message === 'end') resolve();
      }),
    );
    await listener.subscribe(channel);
    try {
      await shared.offer(job(8), 1);
      await shared.offer(job(8), 2);
      await shared.offer(job(8), 3);
      await shared.offer(job(9), 1);
      // Published after the offers were answered: it arrives after their wake-ups.
      const publisher = new Redis(redis.url);
      await publisher.publish(channel, 'end');
      publisher.disconnect();
      await ended;
      assert.deepEqual(messages, ['1', '1', 'end'], 'one wake-up for each of the two jobs');
    } finally {
      listener.disconnect();
    }
  });

  it('a withdrawn job is not taken', async () => {
    const shared = new SharedImages(link, { namespace: 'test', maxOffered: 3 });
    await shared.offer(job(7), 7);
    await shared.offer(job(6), 6);
    await shared.withdraw(job(7));
    assert.deepEqual(await shared.take(), job(6));
    assert.equal(await shared.take(), undefined);
  });
});
