import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { COMPRESSION_PRESETS } from '../../src/config/index.js';
import { launchChromium } from '../support/browser.js';
import { compareViews } from '../support/compare-views.js';
import { driveToFinal, type PageView, viewPage } from '../support/page-view.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

/** Every page of fixtures/site/. */
const PAGES = ['index.html', 'gallery.html', 'about.html', 'products/', 'products/specs.html'];
const D = COMPRESSION_PRESETS.balanced.d;
/** Every experiment of the demo site takes about 80 s of CPU here; a slower machine gets room, not a flaky test. */
const HOOK_TIMEOUT = 15 * 60_000;
/** What Chromium says it takes in its image `Accept`, plus what a site may send anyway. */
const CHROMIUM_FORMATS = new Set(['image/avif', 'image/webp', 'image/jpeg', 'image/png', 'image/gif', 'image/svg+xml']);

interface PageFigures {
  page: string;
  direct: number;
  proxy: number;
  saving: string;
  worstDssim: number;
  pageDssim: number;
  formats: Record<string, number>;
}

describe('the demo site in Chromium, directly and through the proxy after every experiment ran (preset balanced)', () => {
  let proxy: TestProxy;
  let browser: Browser;
  let rounds = 0;
  const figures: PageFigures[] = [];

  before(async () => {
    proxy = await startProxy({ origin: 'embedded', elements: '<image-compression preset="balanced"/>' });
    browser = await launchChromium({ stillImages: true });
    rounds = await driveToFinal(browser, proxy.running, PAGES.map((page) => new URL(page, proxy.url)));
  }, { timeout: HOOK_TIMEOUT });
  after(async () => {
    await browser?.close();
    await proxy?.stop(5000);
    const artifacts = new URL('test/artifacts/', PROJECT_ROOT);
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(new URL('e2e-demo-site.json', artifacts), `${JSON.stringify({ d: D, rounds, pages: figures }, null, 2)}\n`);
  });

  for (const page of PAGES) {
    it(`${page}: every image loads at its natural size, renders within d of direct, no new errors`, async (t) => {
      const direct = await viewPage(browser, new URL(page, proxy.running.origin), { screenshots: true });
      const proxied = await viewPage(browser, new URL(page, proxy.url), { screenshots: true });
      const comparison = await compareViews(direct, proxied, D);
      assert.deepEqual(comparison.problems, [], `${page} through the proxy`);

      // Every <img> of the site loads (the visitor counter on another host fails both ways: no network).
      const broken = proxied.elements.filter((element) => element.tag === 'img' && element.naturalWidth === 0 && !element.src.startsWith('http://example.com/'));
      assert.deepEqual(broken.map((element) => element.src), []);
      assert.ok(comparison.elements.some((element) => element.dssim !== undefined && element.dssim > 0), 'the proxy changed pixels somewhere (the check is not comparing a page with itself)');

      // CSS backgrounds and every other image came from slimproxy: marked or in place, each described.
      const images = proxied.images.filter((image) => new URL(image.url).host === proxy.url.host);
      assert.ok(images.length >= 8, `${images.length} images`);
      for (const image of images) {
        assert.equal(image.status, 200, image.url);
        assert.ok(CHROMIUM_FORMATS.has(image.contentType), `${image.url}: ${image.contentType}`);
      }
      const formats: Record<string, number> = {};
      for (const image of images) formats[image.contentType.replace('image/', '')] = (formats[image.contentType.replace('image/', '')] ?? 0) + 1;
      figures.push(pageFigures(page, direct, proxied, comparison.elements, comparison.pageDssim, formats));
      t.diagnostic(`${page}: image bytes ${direct.imageBytes} direct → ${proxied.imageBytes} through the proxy (${figures.at(-1)!.saving} saved); worst element DSSIM ${figures.at(-1)!.worstDssim.toFixed(5)}; formats ${JSON.stringify(formats)}`);
    });
  }

  it('sends WebP or AVIF wherever one is smaller: the image bytes of a visit fall by at least 50% in total', (t) => {
    assert.equal(figures.length, PAGES.length, 'every page was compared');
    const direct = figures.reduce((sum, page) => sum + page.direct, 0);
    const proxied = figures.reduce((sum, page) => sum + page.proxy, 0);
    const modern = figures.reduce((sum, page) => sum + (page.formats.webp ?? 0) + (page.formats.avif ?? 0), 0);
    const all = figures.reduce((sum, page) => sum + Object.values(page.formats).reduce((a, b) => a + b, 0), 0);
    t.diagnostic(`all pages: ${direct} → ${proxied} bytes (${(100 * (1 - proxied / direct)).toFixed(1)}% saved); ${modern} of ${all} images WebP or AVIF; ${rounds} rounds of visits to final`);
    assert.ok(proxied <= direct * 0.5, `${proxied} of ${direct} bytes`);
    assert.ok(modern >= all * 0.75, `${modern} of ${all} images are WebP or AVIF`);
  });
});

function pageFigures(page: string, direct: PageView, proxied: PageView, elements: readonly { dssim: number | undefined }[], pageDssim: number, formats: Record<string, number>): PageFigures {
  return {
    page,
    direct: direct.imageBytes,
    proxy: proxied.imageBytes,
    saving: `${(100 * (1 - proxied.imageBytes / direct.imageBytes)).toFixed(1)}%`,
    worstDssim: Math.max(0, ...elements.map((element) => element.dssim ?? 0)),
    pageDssim,
    formats,
  };
}

describe('the browser check catches a damaged variant', () => {
  let proxy: TestProxy;
  let browser: Browser;
  before(async () => {
    // d ≤ 0 means "the fixed quality, unmeasured": quality 5 is what a broken encoder setting would send.
    proxy = await startProxy({ origin: 'embedded', elements: '<image-compression d="0" quality="5" formats="webp"/>' });
    browser = await launchChromium({ stillImages: true });
    await driveToFinal(browser, proxy.running, [new URL('gallery.html', proxy.url)]);
  }, { timeout: HOOK_TIMEOUT });
  after(async () => {
    await browser?.close();
    await proxy?.stop(5000);
  });

  it('reports the photographs of the gallery as further than d from direct', async (t) => {
    const direct = await viewPage(browser, new URL('gallery.html', proxy.running.origin), { screenshots: true });
    const proxied = await viewPage(browser, new URL('gallery.html', proxy.url), { screenshots: true });
    const { problems } = await compareViews(direct, proxied, D);
    const caught = problems.filter((problem) => /DSSIM [\d.]+ > /.test(problem));
    t.diagnostic(`caught: ${caught.join('; ')}`);
    for (const photo of ['img/photos/raccoon.jpg', '/img/photos/china.jpg', 'img/hubble-deep-field-700.jpg']) {
      assert.ok(caught.some((problem) => problem.startsWith(`${photo}: `)), `${photo} caught in: ${problems.join('; ')}`);
    }
    assert.ok(caught.some((problem) => problem.startsWith('whole page')), 'the whole page is further than d too');
  });
});
