import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { metricSamples } from '../support/metrics-text.js';
import { type ClusterInstance, experimentsRun, type JpegCluster, startJpegCluster } from '../support/cluster.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const images: Record<string, Buffer> = {
  '/gone.jpg': readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT)),
  '/damaged.jpg': readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT)),
  '/standin.jpg': readFileSync(new URL('fixtures/site/img/earth.jpg', PROJECT_ROOT)),
};
const FINAL = 'public, no-transform, max-age=600';

/** What a cluster keeps in Redis may vanish (expiry, eviction, a flushed server) or be damaged: neither is served. */
describe('<cluster>: lost or damaged state in Redis', () => {
  let client: Redis;
  let instances: ClusterInstance[] = [];
  const get = (instance: ClusterInstance, path: string) => fetchRaw(new URL(path, instance.proxy.url));
  let cluster: JpegCluster;
  const idle = () => cluster.idle();
  before(async () => {
    cluster = await startJpegCluster(images);
    ({ client, instances } = cluster);
  });
  after(() => cluster.stop());

  it('a best variant whose bytes are gone is made again by the instance that lacks it, not given up', async () => {
    const [a, b] = instances as [ClusterInstance, ClusterInstance];
    assert.equal((await get(a, '/gone.jpg?m=ic')).headers['cache-control'], 'private, no-transform, max-age=60');
    await idle();
    const made = await get(a, '/gone.jpg?m=ic');
    assert.equal(made.headers['cache-control'], FINAL);
    const published = await client.keys('sp:v1:bytes:*');
    assert.equal(published.length, 1, 'the variant was published');
    await client.del(...published);
    // b knows the experiment ran, but cannot have its result: it does not call the original final.
    const first = await get(b, '/gone.jpg?m=ic');
    assert.equal(first.headers['cache-control'], 'private, no-transform, max-age=60');
    assert.deepEqual(first.body, images['/gone.jpg']);
    await idle();
    assert.deepEqual(await experimentsRun(b), { jpeg: 1 }, 'b ran the best’s experiment itself');
    const final = await get(b, '/gone.jpg?m=ic');
    assert.equal(final.headers['cache-control'], FINAL);
    assert.deepEqual(final.body, made.body, 'the same variant as a made');
  });

  it('damaged facts and progress are ignored: every answer is a right image, and the image still becomes final', async () => {
    const [a, , c] = instances as [ClusterInstance, ClusterInstance, ClusterInstance];
    await get(a, '/damaged.jpg?m=ic');
    await idle();
    assert.equal((await get(a, '/damaged.jpg?m=ic')).headers['cache-control'], FINAL);
    // Keys of images are by the original's digest.
    const digest = createHash('sha256').update(images['/damaged.jpg']!).digest('hex');
    const [best] = await client.keys(`sp:v2:*:outcome:${digest}*`);
    const [progress] = await client.keys(`sp:v2:*:progress:${digest}*`);
    assert.ok(best && progress);
    const facts = JSON.parse((await client.get(best))!) as Record<string, unknown>;
    // Facts that point at a page, and progress of the wrong type.
    await client.set(best, JSON.stringify({ ...facts, contentType: 'text/html\r\nX-Injected: 1' }));
    await client.del(progress);
    await client.set(progress, 'not a set');
    const answers = [await get(c, '/damaged.jpg?m=ic')];
    await idle();
    answers.push(await get(c, '/damaged.jpg?m=ic'));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], 'image/jpeg');
      assert.equal(answer.headers['x-injected'], undefined);
      assert.equal((await sharp(answer.body).metadata()).format, 'jpeg');
    }
    assert.deepEqual(await experimentsRun(c), { jpeg: 1 }, 'c made it itself');
    assert.equal(answers[1]!.headers['cache-control'], FINAL);
    // Publishing replaced the damaged facts with good ones.
    assert.equal((JSON.parse((await client.get(best))!) as { contentType: string }).contentType, 'image/jpeg');
  });

  it('a variant in Redis in a format the mark does not allow is refused, however well its bytes match (issue 15)', async () => {
    const [a, , c] = instances as [ClusterInstance, ClusterInstance, ClusterInstance];
    await get(a, '/standin.jpg?m=ic');
    await idle();
    assert.equal((await get(a, '/standin.jpg?m=ic')).headers['cache-control'], FINAL);
    const digest = createHash('sha256').update(images['/standin.jpg']!).digest('hex');
    const [best] = await client.keys(`sp:v2:*:outcome:${digest}*`);
    assert.ok(best);
    // A stand-in record: a WebP, much smaller, its bytes published and matching their digest — for mark `ic`.
    const webp = await sharp(images['/standin.jpg']).webp({ quality: 30 }).toBuffer();
    const webpDigest = createHash('sha256').update(webp).digest('hex');
    const facts = JSON.parse((await client.get(best))!) as Record<string, unknown>;
    await client.set(`sp:v1:bytes:${webpDigest}`, webp);
    await client.set(best, JSON.stringify({ ...facts, digest: webpDigest, size: webp.length, experiment: 'webp', format: 'webp', contentType: 'image/webp' }));
    const refusedBefore = metricSamples((await fetchRaw(new URL('metrics', c.admin))).body.toString(), 'slimproxy_cluster_events_total').find((s) => s.labels.event === 'refused')?.value ?? 0;
    const answer = await get(c, '/standin.jpg?m=ic');
    assert.equal(answer.status, 200);
    assert.equal((await sharp(answer.body).metadata()).format, 'jpeg', 'never the WebP');
    assert.equal(answer.headers['content-type'], 'image/jpeg');
    const refused = metricSamples((await fetchRaw(new URL('metrics', c.admin))).body.toString(), 'slimproxy_cluster_events_total').find((s) => s.labels.event === 'refused')?.value ?? 0;
    assert.ok(refused > refusedBefore, 'counted as refused');
  });
});
