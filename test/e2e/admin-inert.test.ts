import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium } from '../support/browser.js';
import { fetchRaw } from '../support/client.js';
import { cutout, untilFinal } from '../support/images.js';
import { servingFiles, startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

/**
 * SPEC §8, in Chromium: what the admin listener serves from the store runs nothing in its origin. Each hostile file
 * is first opened straight from the origin, where its script does run (so the marker below can tell), then from
 * the admin listener, where it must not.
 */

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));

/**
 * The marker a script leaves: the title, and a synchronous request to the beacon, which the beacon has recorded
 * before the script goes on, hence before the document's load event.
 */
const marker = (beacon: URL) =>
  `document.title = "ran"; var x = new XMLHttpRequest(); x.open("GET", "${new URL('hit', beacon).href}", false); try { x.send(); } catch (e) {}`;

/** The little of the DOM the checks below use (this project compiles without the DOM library). */
interface InPage {
  readonly origin: string;
  readonly document: { createElement(name: 'canvas'): InPageCanvas };
  getComputedStyle(element: unknown): { readonly fontWeight: string };
}
interface InPageImage {
  readonly naturalWidth: number;
  readonly naturalHeight: number;
  getAttribute(name: string): string | null;
}
interface InPageCanvas {
  width: number;
  height: number;
  getContext(type: '2d'): { drawImage(image: InPageImage, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { readonly data: Uint8ClampedArray } };
}

interface StatusApi {
  readonly store: { readonly top: readonly { readonly url: string; readonly state: string; readonly best?: { readonly experiment: string; readonly variant: string } }[] };
}

describe('the admin listener in a real browser', () => {
  let beacon: TestOrigin;
  let origin: TestOrigin;
  let proxy: TestProxy;
  let admin: URL;
  let browser: Browser;
  let tab: Page;
  const hits = () => beacon.requests.filter((r) => r.url === '/hit').length;
  const status = async () => JSON.parse((await fetchRaw(new URL('api/status', admin))).body.toString()) as StatusApi;

  /** Opens `url` in the tab; after `load`, any script of the document has run (its marker is synchronous). */
  async function open(url: URL): Promise<{ title: string; contentType: string; hits: number }> {
    const before = hits();
    const response = await tab.goto(url.href, { waitUntil: 'load' });
    assert.ok(response, url.href);
    return { title: await tab.title(), contentType: await response.headerValue('content-type') ?? '', hits: hits() - before };
  }


  before(async () => {
    beacon = await startOrigin((_req, res) => res.writeHead(204).end());
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="red"/><script>${marker(beacon.url)}</script></svg>`;
    const files: Record<string, [string, Buffer]> = {
      '/evil.svg': ['image/svg+xml', Buffer.from(svg)],
      // GIF by its first bytes, HTML to a browser told text/html: stored as an image, and the origin calls it a page.
      '/polyglot.gif': ['text/html', Buffer.from(`GIF89a<html><body><script>${marker(beacon.url)}</script></body></html>`)],
      '/photo.jpg': ['image/jpeg', photo],
      '/cutout.png': ['image/png', await cutout(photo)],
    };
    origin = await startOrigin(servingFiles(files));
    // WebP only: AVIF would make this slower without adding to what it checks.
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression formats="webp"/>' });
    admin = proxy.running.adminUrl!;
    for (const path of ['/evil.svg?m=ic', '/polyglot.gif?m=ic']) assert.equal((await fetchRaw(new URL(path, proxy.url))).status, 200, path);
    await untilFinal(proxy, '/photo.jpg?m=ic,webp');
    await untilFinal(proxy, '/cutout.png?m=ic,zorro');
    browser = await launchChromium();
    tab = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await proxy?.stop(5000);
    await origin?.close();
    await beacon?.close();
  });

  for (const file of ['/evil.svg', '/polyglot.gif']) {
    it(`opening the stored ${file} runs none of its script`, async () => {
      const direct = await open(new URL(file, origin.url));
      assert.deepEqual([direct.title, direct.hits], ['ran', 1], 'straight from the origin the script runs: the marker works');
      for (const query of ['', '&which=original', '&which=best&variant=jpeg']) {
        const url = new URL(`image?url=${encodeURIComponent(file)}${query}`, admin);
        const opened = await open(url);
        assert.notEqual(opened.title, 'ran', url.href);
        assert.equal(opened.hits, 0, `${url.href}: no request from a script`);
        assert.doesNotMatch(opened.contentType, /svg|html|xml/, url.href);
        assert.equal(await tab.evaluate(() => (globalThis as unknown as InPage).origin), 'null', `${url.href}: sandboxed, an opaque origin`);
      }
    });
  }

  it('opening a ZorroSVG variant shows it: the sandbox lets it draw its inlined JPEG and mask', async () => {
    const zorro = (await status()).store.top.find((entry) => entry.url === '/cutout.png')?.best;
    assert.equal(zorro?.experiment, 'zorro');
    const refused: string[] = [];
    const listener = (message: { text(): string }) => {
      if (/Content Security Policy|Refused/i.test(message.text())) refused.push(message.text());
    };
    tab.on('console', listener);
    try {
      const url = new URL(`image?url=%2Fcutout.png&which=best&variant=${encodeURIComponent(zorro.variant)}`, admin);
      const opened = await open(url);
      assert.equal(opened.contentType, 'image/svg+xml');
      assert.equal(await tab.evaluate(() => (globalThis as unknown as InPage).origin), 'null', 'sandboxed, an opaque origin');
      const { width = 0, height = 0 } = await sharp(photo).metadata();
      const shot = await sharp(await tab.screenshot({ clip: { x: 0, y: 0, width, height } })).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const expected = await sharp(photo).raw().toBuffer({ resolveWithObject: true });
      const at = (image: { data: Buffer; info: { width: number; channels: number } }) => {
        const i = ((height >> 1) * image.info.width + (width >> 1)) * image.info.channels;
        return [...image.data.subarray(i, i + 3)];
      };
      const [seen, want] = [at(shot), at(expected)];
      assert.ok(
        seen.every((value, c) => Math.abs(value - want[c]!) <= 24),
        `centre ${seen.join(',')}, the photo's ${want.join(',')} (refused: not the photo)`,
      );
      assert.deepEqual(refused, []);
    } finally {
      tab.off('console', listener);
    }
  });

  it('the status page keeps its stylesheet and shows its thumbnails, a ZorroSVG one included, with nothing refused by its policy', async () => {
    const zorro = (await status()).store.top.find((entry) => entry.url === '/cutout.png')?.best;
    assert.equal(zorro?.experiment, 'zorro');
    const messages: string[] = [];
    tab.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`));
    tab.on('pageerror', (error) => messages.push(`pageerror: ${error.message}`));
    await tab.goto(new URL('status', admin).href, { waitUntil: 'load' });
    assert.equal(await tab.locator('p.big').evaluate((p) => (globalThis as unknown as InPage).getComputedStyle(p).fontWeight), '600', 'the inline stylesheet applies');
    const thumbnails = Object.fromEntries(
      await tab.locator('img.thumb').evaluateAll((imgs) => (imgs as unknown as InPageImage[]).map((img) => [img.getAttribute('src')!, img.naturalWidth] as const)),
    );
    const thumbnail = (url: string, which: string, variant = '') =>
      thumbnails[`/image?url=${encodeURIComponent(url)}&which=${which}${variant ? `&variant=${encodeURIComponent(variant)}` : ''}`];
    const { width } = await sharp(photo).metadata();
    for (const [url, which, variant] of [
      ['/photo.jpg', 'original'],
      ['/photo.jpg', 'best', 'webp'],
      ['/cutout.png', 'original'],
      ['/cutout.png', 'best', zorro.variant],
    ] as const) {
      assert.equal(thumbnail(url, which, variant), width, `${url} ${which}: ${JSON.stringify(thumbnails)}`);
    }
    assert.equal(thumbnail('/evil.svg', 'original'), undefined, 'an SVG original gets no thumbnail (/image would refuse it)');
    // The ZorroSVG thumbnail draws its inlined JPEG through its inlined mask: opaque photo at the centre of the cutout.
    const zorroSrc = `/image?url=%2Fcutout.png&which=best&variant=${encodeURIComponent(zorro.variant)}`;
    const centre = await tab.locator(`img.thumb[src="${zorroSrc}"]`).evaluate((node) => {
      const img = node as unknown as InPageImage;
      const canvas = (globalThis as unknown as InPage).document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const context = canvas.getContext('2d');
      context.drawImage(img, 0, 0);
      return [...context.getImageData(img.naturalWidth >> 1, img.naturalHeight >> 1, 1, 1).data];
    });
    assert.equal(centre[3], 255, `centre pixel ${centre.join(',')}: the inlined JPEG is drawn`);
    assert.deepEqual(messages.filter((m) => /Content Security Policy|Refused/i.test(m)), [], 'nothing refused by a policy');
    assert.deepEqual(messages, [], 'no message at all: no thumbnail refused, nothing broken');
  });
});
