import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { parseConfig } from '../../src/config/index.js';
import { launchChromium } from '../support/browser.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const fallback = readFileSync(new URL('fixtures/site/img/placeholder.gif', PROJECT_ROOT));
const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));

describe('<fallback-image>: an image in place of the origin’s 404', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let broken: TestProxy;
  let browser: Browser;
  before(async () => {
    origin = await startOrigin((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/img/missing-image.gif') {
        res.writeHead(200, { 'Content-Type': 'image/gif' });
        res.end(fallback);
      } else if (path === '/photo.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=60' });
        res.end(photo);
      } else if (path === '/page.html') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<p><img src="/gone.jpg" id="gone"></p>');
      } else {
        res.writeHead(404, { 'Content-Type': 'text/html' });
        res.end('<h1>Not found</h1>');
      }
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression formats="webp"/><fallback-image url="/img/missing-image.gif" max-bytes="1MiB"/>' });
    broken = await startProxy({ origin: origin.url, elements: '<image-compression formats="webp"/><fallback-image url="/img/missing-image.gif" max-bytes="100B"/>' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await proxy.stop(5000);
    await broken.stop(5000);
    await origin.close();
  });

  it('answers a marked image the origin does not have with the fallback, still 404, and fetches the fallback once', async () => {
    const first = await fetchRaw(new URL('/gone.jpg?m=ic,webp', proxy.url));
    assert.equal(first.status, 404);
    assert.equal(first.headers['content-type'], 'image/gif');
    assert.deepEqual(first.body, fallback);
    assert.equal(first.headers['x-slimproxy-skip'], 'origin answered 404: fallback image');
    const second = await fetchRaw(new URL('/also-gone.png?m=ic', proxy.url));
    assert.deepEqual(second.body, fallback);
    // An unmarked image URL (in place, by Accept) too.
    const inPlace = await fetchRaw(new URL('/img/none.jpg', proxy.url), { headers: { Accept: 'image/webp,image/*' } });
    assert.equal(inPlace.status, 404);
    assert.deepEqual(inPlace.body, fallback);
    assert.equal(origin.requests.filter((r) => r.url === '/img/missing-image.gif').length, 1, 'fetched once, then kept');
  });

  it('leaves pages and images that exist alone', async () => {
    const page = await fetchRaw(new URL('/nothing.html', proxy.url));
    assert.equal(page.status, 404);
    assert.equal(page.body.toString(), '<h1>Not found</h1>');
    const image = await fetchRaw(new URL('/photo.jpg?m=ic', proxy.url));
    assert.equal(image.status, 200);
    assert.deepEqual(image.body, photo);
  });

  it('is shown by a browser in place of the missing image', async () => {
    const tab = await browser.newPage();
    await tab.goto(new URL('/page.html', proxy.url).href, { waitUntil: 'load' });
    const width = await tab.locator('#gone').evaluate((image) => (image as unknown as { naturalWidth: number }).naturalWidth);
    const { width: expected } = { width: fallback.readUInt16LE(6) };
    assert.equal(width, expected);
    await tab.close();
  });

  it('passes the origin’s 404 through, with a log line, when the fallback cannot be had (here: above max-bytes)', async () => {
    const response = await fetchRaw(new URL('/gone.jpg?m=ic', broken.url));
    assert.equal(response.status, 404);
    assert.equal(response.body.toString(), '<h1>Not found</h1>');
    const warning = broken.logs.find((line) => line.msg === 'fallback image unavailable: 404s pass through as they are');
    assert.match(String(warning?.reason), /larger than max-bytes \(100\)/);
  });

  it('config: needs a url, and refuses one that is neither a URL nor a path', () => {
    const config = (attributes: string) => () => parseConfig(`<config><origin url="embedded"/><fallback-image ${attributes}/></config>`, 'c.xml');
    assert.equal(config('url="/img/x.png"')().fallbackImage?.maxBytes, 5 * 2 ** 20);
    assert.match(config('url="/img/x.png"')().warnings.join('\n'), /<fallback-image> has no effect without <image-compression>/);
    assert.throws(config('max-bytes="1MiB"'), /c\.xml:1: <fallback-image>: url is required/);
    assert.throws(config('url="img/x.png"'), /url must be an absolute http:\/\/ or https:\/\/ URL, or a path on the origin starting with "\/"/);
  });
});
