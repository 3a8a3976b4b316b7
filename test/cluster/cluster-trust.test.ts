import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { sniffImageType } from '../../src/images/probe.js';
import { fetchRaw } from '../support/client.js';
import { type ClusterInstance, experimentsRun, type JpegCluster, startJpegCluster } from '../support/cluster.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const images: Record<string, Buffer> = {
  '/poison.jpg': readFileSync(new URL('fixtures/site/img/earth.jpg', PROJECT_ROOT)),
  '/gone.jpg': readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT)),
  '/evicted.jpg': readFileSync(new URL('fixtures/site/img/photos/astronaut.jpg', PROJECT_ROOT)),
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('<cluster>: what an instance takes from Redis (hostile review of issue 17)', () => {
  let client: Redis;
  let instances: ClusterInstance[] = [];
  const get = (instance: ClusterInstance, path: string, headers: Record<string, string> = {}) => fetchRaw(new URL(path, instance.proxy.url), { headers });
  let cluster: JpegCluster;
  const idle = () => cluster.idle();
  before(async () => {
    cluster = await startJpegCluster(images);
    ({ client, instances } = cluster);
  });
  after(() => cluster.stop());

  it('a published outcome saying "gzip-coded SVG" over other bytes is refused: IE 11 (ic,zorro) is never sent WebP', async () => {
    const [a, , c] = instances as [ClusterInstance, ClusterInstance, ClusterInstance];
    await get(a, '/poison.jpg?m=ic');
    await idle();
    assert.match(String((await get(a, '/poison.jpg?m=ic')).headers['cache-control']), /^public/);
    const digest = sha(images['/poison.jpg']!);
    const [outcomeKey] = await client.keys(`sp:v2:*:outcome:${digest}*`);
    assert.ok(outcomeKey, 'jpeg outcome published');
    const facts = JSON.parse((await client.get(outcomeKey))!) as Record<string, unknown>;
    // Same experiment ("jpeg"), same original, same settings; bytes match their digest; "format" svg, gzip-coded.
    const webp = await sharp(images['/poison.jpg']).webp({ quality: 20 }).toBuffer();
    const gz = gzipSync(webp);
    await client.set(`sp:v1:bytes:${sha(gz)}`, gz);
    await client.set(outcomeKey, JSON.stringify({ ...facts, digest: sha(gz), size: gz.length, format: 'svg', contentType: 'image/svg+xml', contentEncoding: 'gzip' }));
    for (const acceptEncoding of ['gzip', 'identity']) {
      const answer = await get(c, '/poison.jpg?m=ic,zorro', { 'accept-encoding': acceptEncoding });
      const decoded = answer.headers['content-encoding'] === 'gzip' ? gunzipSync(answer.body) : answer.body;
      assert.notEqual(sniffImageType(decoded), 'webp', `Accept-Encoding ${acceptEncoding}: ic,zorro got WebP bytes as ${answer.headers['content-type']} (${answer.headers['content-encoding'] ?? 'identity'}), X-Slimproxy-Image: ${String(answer.headers['x-slimproxy-image'])}`);
    }
  });

  it('an experiment done elsewhere counts as done only with its outcome in hand: a wider mark whose outcome bytes are gone runs it here, not final without it', async () => {
    const [a, b] = instances as [ClusterInstance, ClusterInstance];
    const wide = '/gone.jpg?m=ic,webp,avif,zorro';
    for (let i = 0; i < 4; i += 1) {
      await get(a, wide);
      await idle();
    }
    const onA = await get(a, wide);
    assert.match(String(onA.headers['cache-control']), /^public/);
    assert.ok(['avif', 'webp'].includes(sniffImageType(onA.body) ?? ''));
    // b's first request is IE-less old browser's `ic`: it reads the progress (avif, webp done) but looks only at jpeg's outcome.
    await get(b, '/gone.jpg?m=ic');
    await idle();
    // The published variant bytes expire / are evicted (README: "it runs that one experiment itself rather than call a mark final").
    const published = await client.keys('sp:v1:bytes:*');
    for (const key of published) {
      const bytes = await client.getBuffer(key);
      if (bytes && ['avif', 'webp'].includes(sniffImageType(bytes) ?? '')) await client.del(key);
    }
    const onB = await get(b, wide);
    const ranOnB = await experimentsRun(b);
    assert.ok(
      !String(onB.headers['cache-control']).startsWith('public'),
      `b calls ${wide} final (${onB.headers['cache-control']}) serving ${sniffImageType(onB.body)} ${onB.body.length} B (a serves ${sniffImageType(onA.body)} ${onA.body.length} B); b ran ${JSON.stringify(ranOnB)}`,
    );
  });

  it('outcome facts evicted (volatile-lru) while the progress set stays: a fresh instance runs the experiment, never final without it', async () => {
    const [a, , c] = instances as [ClusterInstance, ClusterInstance, ClusterInstance];
    const wide = '/evicted.jpg?m=ic,webp,avif,zorro';
    for (let i = 0; i < 4; i += 1) {
      await get(a, wide);
      await idle();
    }
    const onA = await get(a, wide);
    assert.match(String(onA.headers['cache-control']), /^public/);
    const digest = sha(images['/evicted.jpg']!);
    const outcomes = await client.keys(`sp:v2:*:outcome:${digest}*`);
    assert.ok(outcomes.length > 0);
    await client.del(...outcomes);
    const onC = await get(c, wide);
    assert.ok(
      !String(onC.headers['cache-control']).startsWith('public'),
      `c calls it final (${onC.headers['cache-control']}) serving ${sniffImageType(onC.body)} ${onC.body.length} B = the original (${images['/evicted.jpg']!.length} B); a serves ${sniffImageType(onA.body)} ${onA.body.length} B; c ran ${JSON.stringify(await experimentsRun(c))}`,
    );
  });
});
