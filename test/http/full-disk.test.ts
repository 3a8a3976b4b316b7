import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { metricSamples } from '../support/metrics-text.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, spawnProxy, type SpawnedProxy, testConfigXml, waitForLog, writeTempConfig } from '../support/proxy.js';
import { fill, mountTmpfs, unmount } from '../support/tmpfs.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const IMAGES = 80;

describe('a full disk under the store (issue 16, acceptance 1)', () => {
  let origin: TestOrigin;
  let proxy: SpawnedProxy;
  let mount: string;
  const images: Buffer[] = [];

  before(async () => {
    const { width = 0, height = 0 } = await sharp(photo).metadata();
    for (let i = 0; i < IMAGES; i += 1) {
      const left = Math.floor(((width - 200) * i) / IMAGES);
      images.push(await sharp(photo).extract({ left, top: Math.floor((height - 150) / 2), width: 200, height: 150 }).jpeg({ quality: 93 }).toBuffer());
    }
    origin = await startOrigin((req, res) => {
      const match = /^\/img(\d+)\.jpg$/.exec(req.url ?? '');
      const image = match ? images[Number(match[1])] : undefined;
      if (!image) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
      res.end(image);
    });
    mount = mountTmpfs('6m');
    const config = writeTempConfig(testConfigXml({ origin: origin.url, elements: `<image-compression/><store path="${join(mount, 'store')}" max-size="1GiB"/>` }));
    proxy = await spawnProxy(config);
  });

  after(async () => {
    if (proxy?.child.exitCode === null) {
      proxy.child.kill('SIGKILL');
      await proxy.exited;
    }
    await origin?.close();
    unmount(mount);
  });

  const get = (i: number) => fetchRaw(new URL(`/img${i}.jpg?m=ic,webp`, proxy.url));
  const adminUrl = () => new URL(String(proxy.lines.find((line) => typeof line.admin === 'string')?.admin));

  it('keeps serving whole images while nothing can be written, and stores again once space returns', async () => {
    // Three images stored and improved before the disk fills.
    for (let i = 0; i < 3; i += 1) assert.equal((await get(i)).status, 200);
    await fetchRaw(new URL('/api/idle', adminUrl()));
    const variants = await Promise.all([0, 1, 2].map(get));
    for (const res of variants) {
      assert.doesNotMatch(String(res.headers['x-slimproxy-image']), /^experiment=original/, 'a variant before the disk filled');
      assert.match(String(res.headers['cache-control']), /^public/, 'final before the disk filled');
    }

    const filler = fill(mount);
    // 50 new images: each whole (the origin's bytes), none stored.
    for (let i = 10; i < 60; i += 1) {
      const res = await get(i);
      assert.equal(res.status, 200, `img${i}`);
      assert.ok(res.body.equals(images[i]!), `img${i}: the origin's bytes`);
    }
    // Stored variants are still served, their bytes what their ETag names.
    for (const [i, before] of variants.entries()) {
      const res = await get(i);
      assert.equal(res.status, 200);
      assert.equal(res.headers.etag, before.headers.etag);
      assert.equal(res.headers.etag, `"sp-${createHash('sha256').update(res.body).digest('hex').slice(0, 24)}"`);
      // Still final: nothing can be queued now, but nothing needs to be (hostile review: it went back to the
      // interim lifetime, `private`, for as long as the disk was full).
      assert.equal(res.headers['cache-control'], before.headers['cache-control']);
    }
    assert.equal(proxy.child.exitCode, null, 'the process is up');
    assert.equal((await fetchRaw(new URL('/.slimproxy/health', proxy.url))).status, 200);
    const metrics = (await fetchRaw(new URL('/metrics', adminUrl()))).body.toString();
    const failures = metricSamples(metrics, 'slimproxy_store_errors_total');
    assert.ok(failures.some((sample) => sample.labels.reason === 'disk-full' && sample.value >= 1), `store errors counted: ${JSON.stringify(failures)}`);
    // Log lines leave the process in batches (a quarter of a second at most): wait for the first, then count.
    await waitForLog(proxy, (line) => String(line.msg).startsWith('store: cannot write'));
    const lines = proxy.lines.filter((line) => String(line.msg).startsWith('store: cannot write'));
    assert.equal(lines.length, 1, 'one log line (a minute at most), not one per request');
    assert.equal(lines[0]!.cause, 'store');

    rmSync(filler);
    // Writing is tried again a few seconds after the last failure: new images are stored from then on.
    const resumed = waitForLog(proxy, (line) => line.msg === 'store: writing works again');
    let next = 60;
    let written = false;
    resumed.then(() => (written = true), () => undefined);
    const deadline = Date.now() + 30_000;
    while (!written && Date.now() < deadline) {
      // Images not stored yet, in turn (the last is kept for the check below): each asks the store to write.
      assert.equal((await get(60 + ((next - 60) % (IMAGES - 61)))).status, 200);
      next += 1;
      await new Promise<void>((resolve) => setTimeout(resolve, 250));
    }
    await resumed;
    const fresh = await get(IMAGES - 1);
    assert.equal(fresh.headers['x-slimproxy-skip'], undefined, 'a new image is stored again');
    await fetchRaw(new URL('/api/idle', adminUrl()));
    assert.doesNotMatch(String((await get(IMAGES - 1)).headers['x-slimproxy-image']), /^experiment=original/, 'and improved');
  });
});

describe('a store that cannot be opened at start: the disk is already full (hostile review of issue 16)', () => {
  let origin: TestOrigin;
  const image = Buffer.alloc(0);
  let photoBytes = image;

  before(async () => {
    photoBytes = await sharp(photo).resize(300).jpeg({ quality: 93 }).toBuffer();
    origin = await startOrigin((req, res) => {
      if (req.url === '/photo.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
        res.end(photoBytes);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><p><img src="/photo.jpg" alt="">');
    });
  });
  after(() => origin?.close());

  it('starts with the store on a filesystem remounted read-only (as Linux does after I/O errors), and opens it once writable', async () => {
    let mount: string | undefined;
    let proxy: SpawnedProxy | undefined;
    try {
      mount = mountTmpfs('4m');
      execFileSync('mount', ['-o', 'remount,ro', mount]);
      const config = writeTempConfig(testConfigXml({ origin: origin.url, elements: `<image-compression/><store path="${join(mount, 'store')}" max-size="1GiB"/>` }));
      proxy = await spawnProxy(config);
      const res = await fetchRaw(new URL('/photo.jpg?m=ic', proxy.url));
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(photoBytes), "the origin's bytes");
      const line = await waitForLog(proxy, (entry) => String(entry.msg).startsWith('store: cannot open'));
      assert.equal(line.reason, 'io');
      execFileSync('mount', ['-o', 'remount,rw', mount]);
      await waitForLog(proxy, (entry) => String(entry.msg).startsWith('store: opened'));
      assert.equal((await fetchRaw(new URL('/photo.jpg?m=ic', proxy.url))).headers['x-slimproxy-skip'], undefined, 'stored now');
    } finally {
      if (proxy?.child.exitCode === null) {
        proxy.child.kill('SIGKILL');
        await proxy.exited;
      }
      unmount(mount);
    }
  });

  // With no byte left, LMDB's lock file cannot get its pages (a SIGBUS on tmpfs); with a few KB, opening fails.
  for (const left of [0, 16 * 1024]) {
    it(`starts with ${left} bytes free, serves the origin's images, and opens the store once space returns`, async () => {
      let mount: string | undefined;
      let proxy: SpawnedProxy | undefined;
      try {
        mount = mountTmpfs('2m');
        const filler = fill(mount);
        if (left > 0) truncateSync(filler, statSync(filler).size - left);
        const config = writeTempConfig(testConfigXml({ origin: origin.url, elements: `<image-compression/><store path="${join(mount, 'store')}" max-size="1GiB"/>` }));
        proxy = await spawnProxy(config);
        const page = await fetchRaw(new URL('/', proxy.url));
        assert.equal(page.status, 200);
        const marked = /src="([^"]+)"/.exec(page.body.toString())?.[1] ?? '';
        for (const url of [marked, '/photo.jpg']) {
          const res = await fetchRaw(new URL(url, proxy.url), { headers: { accept: 'image/webp,*/*' } });
          assert.equal(res.status, 200, url);
          assert.ok(res.body.equals(photoBytes), `${url}: the origin's bytes`);
        }
        assert.equal((await fetchRaw(new URL('/.slimproxy/health', proxy.url))).status, 200);
        const line = await waitForLog(proxy, (entry) => String(entry.msg).startsWith('store: cannot open'));
        assert.equal(line.reason, 'disk-full');

        rmSync(filler);
        await waitForLog(proxy, (entry) => String(entry.msg).startsWith('store: opened'));
        const stored = await fetchRaw(new URL(marked, proxy.url));
        assert.equal(stored.status, 200);
        assert.ok(stored.body.equals(photoBytes));
        assert.equal(stored.headers['x-slimproxy-skip'], undefined, 'stored now');
        assert.match(String(stored.headers['x-slimproxy-image']), /^experiment=original/);
        assert.equal(proxy.child.exitCode, null, 'the process is up');
      } finally {
        if (proxy?.child.exitCode === null) {
          proxy.child.kill('SIGKILL');
          await proxy.exited;
        }
        unmount(mount);
      }
    });
  }
});
