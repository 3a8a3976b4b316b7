import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { untilFinal } from '../support/images.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const INTERIM_SECONDS = 1;

describe('a returning visitor gets the better variant once the interim lifetime is over (issue 15, acceptance 3)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let browser: Browser;
  before(async () => {
    // An old image with only validators, as legacy servers send: cached heuristically, a browser would keep the
    // first bytes it got for a tenth of the years since 2015.
    origin = await startOrigin((req, res) => {
      if ((req.url ?? '').startsWith('/photo.jpg')) {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT', ETag: '"p"' });
        res.end(photo);
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' });
        res.end('<!DOCTYPE html><title>visit</title><img id="photo" src="/photo.jpg">');
      }
    });
    // WebP only: AVIF would only make the experiments longer.
    proxy = await startProxy({ origin: origin.url, elements: `<image-compression preset="balanced" formats="webp" interim-max-age="${INTERIM_SECONDS}"/>` });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await proxy.stop(5000);
    await origin.close();
  });

  it('first visit: the original, with an explicit lifetime; a visit after it: the WebP', async () => {
    const context = await browser.newContext();
    const visit = async () => {
      const tab = await context.newPage();
      const image = tab.waitForResponse((response) => response.url().includes('/photo.jpg'));
      await tab.goto(new URL('/page.html', proxy.url).href);
      const response = await image;
      const described = { cacheControl: await response.headerValue('cache-control'), image: await response.headerValue('x-slimproxy-image'), url: response.url() };
      await tab.close();
      return described;
    };
    const first = await visit();
    const firstAt = Date.now();
    assert.equal(first.cacheControl, `private, no-transform, max-age=${INTERIM_SECONDS}`);
    assert.match(String(first.image), /experiment=original/);
    // The proxy's experiments run on: requests of other visitors (here, the test's own) take them to final.
    await proxy.running.experimentsIdle();
    await untilFinal(proxy, new URL(first.url).pathname + new URL(first.url).search);
    // The interim lifetime is a clock: it has to be over, which no event announces.
    await delay(Math.max(0, firstAt + INTERIM_SECONDS * 1000 + 200 - Date.now()));
    const second = await visit();
    assert.match(String(second.image), /format=webp/, `the returning visitor got ${second.image}`);
    await context.close();
  });
});
