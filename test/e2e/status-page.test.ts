import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { fetchRaw } from '../support/client.js';
import { CHROME_UA } from '../support/marks.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

describe('the status page in a real browser', () => {
  let proxy: TestProxy;
  let browser: Browser;
  before(async () => {
    // WebP only: the AVIF experiments would make this test slow without adding to what it checks.
    proxy = await startProxy({ origin: 'embedded', elements: '<image-compression formats="webp"/>' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await proxy.stop(5000);
  });

  it('after the demo page was browsed and its experiments finished, shows the totals of /api/status with its thumbnails', async () => {
    // Browse the home page: its image URLs come marked; ask for each until every experiment has run.
    const page = (await fetchRaw(new URL('/index.html', proxy.url), { headers: { 'User-Agent': CHROME_UA } })).body.toString();
    const images = [...new Set([...page.matchAll(/(?:src|background)="([^"]*\?m=ic[^"]*)"/g)].map((m) => m[1]!))];
    assert.ok(images.length >= 5, `${images.length} marked images`);
    for (let round = 0; round < 8; round += 1) {
      for (const image of images) await fetchRaw(new URL(image, new URL('/index.html', proxy.url)));
      await proxy.running.experimentsIdle();
    }
    const admin = proxy.running.adminUrl!;
    const api = JSON.parse((await fetchRaw(new URL('api/status', admin))).body.toString()) as {
      images: { bytesSaved: number; bytesOriginal: number };
      store: { states: Record<string, number>; top: unknown[] };
    };
    assert.ok(api.images.bytesSaved > 0);
    assert.ok(api.store.states.final! > 0);

    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(new URL('status', admin).href, { waitUntil: 'load' });
    const headline = await tab.locator('p.big').textContent();
    assert.equal(headline?.split(' saved')[0], `${(api.images.bytesSaved / 1024).toFixed(1)} KB`);
    const thumbnails = await tab.locator('img.thumb').evaluateAll((imgs) => imgs.map((img) => (img as unknown as { naturalWidth: number }).naturalWidth));
    assert.ok(thumbnails.length >= 2, `${thumbnails.length} thumbnails`);
    assert.ok(thumbnails.every((width) => width > 0), `thumbnails loaded: ${thumbnails.join(', ')}`);
    assert.deepEqual(errors, []);
    const artifacts = new URL('test/artifacts/', PROJECT_ROOT);
    mkdirSync(artifacts, { recursive: true });
    await tab.screenshot({ path: new URL('status.png', artifacts).pathname, fullPage: true });
  });
});
