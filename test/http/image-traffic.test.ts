import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

describe('traffic awareness (SPEC §6)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const images = new Map<string, Buffer>();
  before(async () => {
    const photo = readFileSync(new URL('fixtures/site/img/photos/raccoon.jpg', PROJECT_ROOT));
    // 30 different small photographs: crops of one picture; but the first two asked for their WebP are large (the
    // whole picture, enlarged), so that both processes are still busy with them when the hot image comes, however
    // fast requests come on this machine.
    for (let i = 0; i < 30; i += 1) {
      const crop = await sharp(photo).extract({ left: (i % 6) * 100, top: Math.floor(i / 6) * 80, width: 96, height: 96 }).jpeg({ quality: 92 }).toBuffer();
      images.set(`/img${i}.jpg`, i === 1 || i === 2 ? await sharp(photo).resize({ width: 1000 }).modulate({ hue: i * 20 }).jpeg({ quality: 92 }).toBuffer() : crop);
    }
    origin = await startOrigin((req, res) => {
      const bytes = images.get(req.url ?? '');
      res.writeHead(bytes ? 200 : 404, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(bytes);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/><limits max-image-processes="2"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  it('with 2 processes and 30 images, the one asked 20× more often is final before any other queued behind it', async () => {
    const agent = new Agent({ keepAlive: true });
    const finalAt = new Map<string, number>();
    let sent = 0;
    const request = async (path: string) => {
      const res = await fetchRaw(new URL(`${path}?m=ic,webp,avif`, proxy.url), { agent: agent as unknown as false });
      sent += 1;
      assert.equal(res.status, 200);
      if (String(res.headers['cache-control']).startsWith('public') && !finalAt.has(path)) finalAt.set(path, sent);
    };
    try {
      // The 29 others have run the first of their plan's two experiments (AVIF, then WebP), and the second of
      // each is queued: the queue is backed up when the hot image starts to be asked for.
      for (let i = 1; i < 30; i += 1) {
        await request(`/img${i}.jpg`);
        await proxy.running.experimentsIdle();
      }
      for (let i = 1; i < 30; i += 1) await request(`/img${i}.jpg`);
      // Then 20 requests of the hot image to one of another, the others taken last-queued first.
      const deadline = Date.now() + 90_000;
      for (let cycle = 0; !finalAt.has('/img0.jpg') && Date.now() < deadline; cycle += 1) {
        for (let i = 0; i < 20; i += 1) await request('/img0.jpg');
        await request(`/img${29 - (cycle % 29)}.jpg`);
      }
    } finally {
      agent.destroy();
    }
    assert.ok(finalAt.has('/img0.jpg'), `the hot image became final (after ${sent} requests)`);
    const hot = finalAt.get('/img0.jpg')!;
    // The first two asked for their WebP found both processes free: they were running, not queued, when the hot
    // image came, and may end first.
    const runningWhenHot = new Set(['/img1.jpg', '/img2.jpg']);
    for (const [path, at] of finalAt) if (path !== '/img0.jpg' && !runningWhenHot.has(path)) assert.ok(at > hot, `${path} was final first`);
  });
});
