import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { CHROME_UA } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const wide = readFileSync(new URL('fixtures/site/img/earth@2x.jpg', PROJECT_ROOT)); // 1520×760
const narrow = readFileSync(new URL('fixtures/site/img/logo.png', PROJECT_ROOT)); // 460×110
const PHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

describe('<image-scaling/>: images scaled to the viewport width class instead of compressed', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string>) => fetchRaw(new URL(path, proxy.url), { headers });
  const widthOf = async (body: Buffer) => (await sharp(body).metadata()).width;
  let wideWebp: Buffer;
  before(async () => {
    wideWebp = await sharp(wide).webp({ quality: 80 }).toBuffer();
    origin = await startOrigin((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/wide.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=60' });
        res.end(wide);
      } else if (path === '/wide.webp') {
        res.writeHead(200, { 'Content-Type': 'image/webp', 'Cache-Control': 'max-age=60' });
        res.end(wideWebp);
      } else if (path === '/narrow.png') {
        res.writeHead(200, { 'Content-Type': 'image/png', 'Cache-Control': 'max-age=60' });
        res.end(narrow);
      } else if (path === '/page.html') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<img src="/wide.jpg">');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    // Both elements: scaling wins (SPEC §1), compression is off.
    proxy = await startProxy({ origin: origin.url, elements: '<image-scaling/><image-compression/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  it('marks the page’s images, and scales them for a phone (by its User-Agent) in their own format', async () => {
    const page = await get('/page.html', { 'User-Agent': PHONE_UA });
    assert.equal(page.headers['accept-ch'], 'Sec-CH-Viewport-Width, Sec-CH-DPR', 'asks for client hints');
    const src = /src="([^"]+)"/.exec(page.body.toString())![1]!;
    assert.match(src, /^\/wide\.jpg\?m=ic/);
    const image = await get(src, { 'User-Agent': PHONE_UA });
    assert.equal(image.headers['content-type'], 'image/jpeg');
    assert.equal(await widthOf(image.body), 1280);
    assert.equal(image.headers.vary, 'User-Agent, Sec-CH-Viewport-Width, Sec-CH-DPR');
    assert.match(String(image.headers['x-slimproxy-image']), /^operations=resize 1280x640 lanczos3, jpeg q90; experiment=transform/);
    assert.ok(image.body.length < wide.length);
  });

  it('scales a WebP original for a mark without WebP into JPEG, never WebP (SPEC §5.5)', async () => {
    const image = await get('/wide.webp?m=ic', { 'User-Agent': PHONE_UA });
    assert.equal(image.headers['content-type'], 'image/jpeg');
    assert.equal((await sharp(image.body).metadata()).format, 'jpeg');
    assert.equal(await widthOf(image.body), 1280);
    // A mark with WebP keeps the original's format.
    assert.equal((await get('/wide.webp?m=ic,webp', { 'User-Agent': PHONE_UA })).headers['content-type'], 'image/webp');
  });

  it('uses client hints when the browser sends them: viewport × DPR, to the next class up', async () => {
    const image = await get('/wide.jpg?m=ic,webp', { 'User-Agent': CHROME_UA, 'Sec-CH-Viewport-Width': '400', 'Sec-CH-DPR': '2' });
    assert.equal(await widthOf(image.body), 960);
    // Unmarked (in place) as well.
    const inPlace = await get('/wide.jpg', { 'User-Agent': CHROME_UA, Accept: 'image/*', 'Sec-CH-Viewport-Width': '300', 'Sec-CH-DPR': '1' });
    assert.equal(await widthOf(inPlace.body), 320);
  });

  it('leaves desktops and images that already fit alone', async () => {
    const desktop = await get('/wide.jpg?m=ic,webp,avif', { 'User-Agent': CHROME_UA });
    assert.deepEqual(desktop.body, wide, 'a desktop gets the original (no compression either: scaling won)');
    const small = await get('/narrow.png?m=ic', { 'User-Agent': PHONE_UA });
    assert.deepEqual(small.body, narrow);
    assert.equal(small.headers['x-slimproxy-skip'], 'no wider than 1280 px: nothing to scale');
  });
});
