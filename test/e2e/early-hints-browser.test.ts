import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { launchChromium } from '../support/browser.js';
import { selfSignedCertificate, tlsListener } from '../support/certificates.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/earth.jpg', PROJECT_ROOT));

describe('Chromium acts on a marked 103 over HTTP/2: the image the page shows is asked for once, before the page', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const certificate = selfSignedCertificate();
  let pageSentAt = Infinity;

  before(async () => {
    origin = await startOrigin((req, res) => {
      if (req.url?.startsWith('/img/')) {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=3600' });
        res.end(photo);
        return;
      }
      // The hint at once, the page after the origin's "work": the time Early Hints exist to use.
      res.socket?.write('HTTP/1.1 103 Early Hints\r\nLink: </img/hero.jpg>; rel=preload; as=image\r\n\r\n');
      setTimeout(() => {
        pageSentAt = Date.now();
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end('<!doctype html><title>hero</title><img src="/img/hero.jpg" width="100">');
      }, 500);
    });
    proxy = await startProxy({
      origin: origin.url,
      elements: `<image-compression/>${tlsListener(certificate)}`,
    });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('the marked image is asked for from the hint, before the page came, and never unmarked', async () => {
    // The test certificate trusted by its key, not by ignoring errors: Chromium acts on no hint over a connection
    // with a certificate error. (DevTools does not show a hint's preload: it is made before the page has a
    // renderer. What the proxy and the origin were asked, and when, shows it.)
    const spki = createHash('sha256').update(new X509Certificate(certificate.cert).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
    const browser = await launchChromium({ args: [`--ignore-certificate-errors-spki-list=${spki}`] });
    try {
      const page = await browser.newPage();
      const secure = proxy.running.urls[1]!;
      await page.goto(new URL('/hero.html', secure).href, { waitUntil: 'load' });
      const shown = await page.locator('img').evaluate((node) => {
        const image = node as unknown as { getAttribute(name: string): string | null; complete: boolean; naturalWidth: number };
        return { src: image.getAttribute('src'), complete: image.complete && image.naturalWidth > 0 };
      });
      assert.equal(shown.src, '/img/hero.jpg?m=ic,webp,avif,zorro');
      assert.ok(shown.complete, 'the image is shown');
      // The proxy's request lines: when each image request came (its end, less its duration).
      const images = proxy.logs
        .filter((line) => line.msg === 'request' && String(line.path).startsWith('/img/'))
        .map((line) => ({ path: `${String(line.path)} ${String(line.route)}`, at: Date.parse(String(line.time)) - Number(line.ms) }))
        .sort((a, b) => a.at - b.at);
      assert.ok(images.length > 0);
      // A marked request's line names the URL the origin is asked for (without the mark), and its route.
      assert.ok(images.every((request) => request.path === '/img/hero.jpg marked'), `only the marked URL: ${images.map((r) => r.path).join(', ')}`);
      assert.ok(images[0]!.at < pageSentAt, `asked for from the hint, ${pageSentAt - images[0]!.at} ms before the origin sent the page`);
    } finally {
      await browser.close();
    }
  });
});
