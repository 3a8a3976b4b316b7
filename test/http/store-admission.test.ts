import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const REAL = 20;
const JUNK = 5000;

/** Requests `paths` with at most `parallel` in flight; returns the responses in order. */
async function requestAll(base: URL, paths: readonly string[], parallel = 16): Promise<{ status: number; headers: Record<string, unknown> }[]> {
  const out: { status: number; headers: Record<string, unknown> }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      const res = await fetchRaw(new URL(paths[i]!, base));
      out[i] = { status: res.status, headers: res.headers };
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}

describe('store admission: one-off URLs cannot push out the images that are requested (issue 15, acceptance 5)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const images: Buffer[] = [];
  let junk: Buffer;
  before(async () => {
    // Twenty distinct ~25 KB JPEGs (crops of one photo), and one more for the junk URLs.
    const { width = 0, height = 0 } = await sharp(photo).metadata();
    for (let i = 0; i <= REAL; i += 1) {
      const left = Math.floor(((width - 240) * i) / REAL);
      images.push(await sharp(photo).extract({ left, top: Math.floor((height - 180) / 2), width: 240, height: 180 }).jpeg({ quality: 92 }).toBuffer());
    }
    junk = images.pop()!;
    origin = await startOrigin((req, res) => {
      const url = new URL(req.url ?? '/', 'http://origin/');
      const real = /^\/real(\d+)\.jpg$/.exec(url.pathname);
      if (real) {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
        res.end(images[Number(real[1])]);
      } else if (url.pathname === '/junk.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
        res.end(junk);
      } else if (url.pathname === '/blk.bin') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
        res.end(Buffer.alloc(25_000, 7));
      } else {
        res.writeHead(404).end();
      }
    });
    // A store for about 40 of these images (originals and variants).
    const storeBytes = 40 * (junk.length + Math.round(junk.length * 0.6));
    const path = mkdtempSync(join(tmpdir(), 'slimproxy-admission-'));
    proxy = await startProxy({ origin: origin.url, elements: `<image-compression preset="balanced"/><store path="${path}" max-size="${Math.max(1 << 20, storeBytes)}"/>` });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  const realPaths = Array.from({ length: REAL }, (_, i) => `/real${i}.jpg?m=ic`);

  it(`${JUNK} one-off junk URLs while ${REAL} real images are requested repeatedly: the ${REAL} stay stored and final`, async () => {
    // The real images become final (their one experiment, JPEG, has run) and are requested again.
    for (let round = 0; round < 3; round += 1) {
      await requestAll(proxy.url, realPaths);
      await proxy.running.experimentsIdle();
    }
    const realFetches = () => origin.requests.filter((r) => r.url.startsWith('/real')).length;
    const fetchedBefore = realFetches();
    // The flood, with the real images asked for in between, as a site's traffic would.
    for (let start = 0; start < JUNK; start += 250) {
      const batch = Array.from({ length: 250 }, (_, i) => `/junk.jpg?junk=${start + i}&m=ic`);
      const answers = await requestAll(proxy.url, [...batch, ...realPaths]);
      assert.ok(answers.every((answer) => answer.status === 200));
    }
    const after = await requestAll(proxy.url, realPaths);
    for (const [i, answer] of after.entries()) {
      assert.match(String(answer.headers['cache-control']), /^public, no-transform/, `/real${i}.jpg is final`);
      assert.doesNotMatch(String(answer.headers['x-slimproxy-image']), /experiment=original/, `/real${i}.jpg is served as its variant`);
    }
    assert.equal(realFetches(), fetchedBefore, 'no real original was evicted and fetched again');
  });

  it('bytes that are no image are never stored, whatever their Content-Type says', async () => {
    const answers = await requestAll(proxy.url, Array.from({ length: 50 }, (_, i) => `/blk.bin?junk=${i}&m=ic`));
    for (const answer of answers) assert.match(String(answer.headers['x-slimproxy-skip']), /^not an image/);
    const again = origin.requests.filter((r) => r.url.startsWith('/blk.bin?junk=0')).length;
    await fetchRaw(new URL('/blk.bin?junk=0&m=ic', proxy.url));
    assert.equal(origin.requests.filter((r) => r.url.startsWith('/blk.bin?junk=0')).length, again + 1, 'asked of the origin again: not kept');
  });
});
