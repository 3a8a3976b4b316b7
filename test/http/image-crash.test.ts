import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { alive, childPids } from '../support/process-tree.js';
import { until } from '../support/until.js';
import { PROJECT_ROOT, spawnProxy, testConfigXml, waitForLog, writeTempConfig } from '../support/proxy.js';

const images = ['photos/night-lights.jpg', 'photos/launch-poster.jpg', 'drawings/chart-attendance.png'].map((path) => ({
  path: `/${path.split('/').at(-1)}`,
  bytes: readFileSync(new URL(`fixtures/site/img/${path}`, PROJECT_ROOT)),
}));

describe('kill -9 while experiments run', () => {
  let origin: TestOrigin;
  after(() => origin.close());

  it('the store opens again, finished variants are served at once, and every byte served matches its digest', async () => {
    origin = await startOrigin((req, res) => {
      const image = images.find((i) => i.path === req.url);
      if (!image) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': image.path.endsWith('.png') ? 'image/png' : 'image/jpeg', ETag: '"v1"', 'Cache-Control': 'max-age=3600' });
      res.end(image.bytes);
    });
    const storePath = join(mkdtempSync(join(tmpdir(), 'slimproxy-crash-')), 'store');
    const config = writeTempConfig(
      testConfigXml({ origin: origin.url, elements: `<image-compression/><store path="${storePath}" max-size="64MiB"/><limits max-image-processes="1"/>` }),
    );
    const mark = 'm=ic,webp,avif';
    const first = await spawnProxy(config);
    for (const image of images) await fetchRaw(new URL(`${image.path}?${mark}`, first.url));
    // Let some experiments finish, then kill while the next ones run.
    await waitForLog(first, (line) => line.msg === 'experiment' && line.outcome === 'ok');
    for (const image of images) await fetchRaw(new URL(`${image.path}?${mark}`, first.url));
    const experimentProcesses = childPids(first.child.pid!);
    assert.ok(experimentProcesses.length > 0, 'experiments run in processes of their own');
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');
    // They learn that the proxy is gone from their closed channel, and end: none is left behind.
    await until(() => !experimentProcesses.some(alive), () => 'the experiment processes of the killed proxy ended');
    // Experiments that finished with a smaller result before the kill: their variant was stored.
    const finishedBefore = first.lines
      .filter((line) => line.msg === 'experiment' && line.outcome === 'ok' && Number(line.after) < Number(line.before))
      .map((line) => String(line.image));
    assert.ok(finishedBefore.length > 0);

    const second = await spawnProxy(config);
    try {
      for (const image of images) {
        const res = await fetchRaw(new URL(`${image.path}?${mark}`, second.url));
        assert.equal(res.status, 200);
        const digest = createHash('sha256').update(res.body).digest('hex');
        assert.equal(res.headers.etag, `"sp-${digest.slice(0, 24)}"`, `${image.path}: the bytes are the ones their record names`);
        const decoded = await sharp(res.body).metadata();
        assert.ok(decoded.width && decoded.width > 0, `${image.path} decodes`);
        if (finishedBefore.includes(image.path)) {
          assert.doesNotMatch(String(res.headers['x-slimproxy-image']), /^experiment=original/, `${image.path}: its variant survived`);
        }
      }
      const originFetches = origin.requests.length;
      assert.equal(originFetches, images.length, 'originals came from the store after the restart (fresh for an hour)');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
