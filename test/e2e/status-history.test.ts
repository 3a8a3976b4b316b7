import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { createMetrics } from '../../src/observability/metrics.js';
import { byteText } from '../../src/observability/savings-chart.js';
import { HOUR_MS, MINUTE_MS, type SavingsHistoryView, type SavingsPoint } from '../../src/observability/savings-history.js';
import { SavingsRecorder } from '../../src/observability/savings-recorder.js';
import { ImageStore } from '../../src/store/image-store.js';
import { launchChromium } from '../support/browser.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';
import { answered, historyStorePath, testClock } from '../support/savings.js';

const DAY_MS = 24 * HOUR_MS;

/**
 * A month of a site's image traffic, written into a store as a proxy would have written it: busy days, quiet
 * nights, and a better setting from ten days ago on (variants a third smaller). Each sample is one period's answers.
 */
async function simulateMonth(path: string, end: number): Promise<void> {
  const store = new ImageStore(path, 256 * 2 ** 20);
  const metrics = createMetrics();
  const time = testClock(end - 30 * DAY_MS);
  const recorder = new SavingsRecorder(metrics, store, time.now);
  // A fixed sequence, so that every run draws the same month.
  let seed = 19;
  const jitter = () => {
    seed = (seed * 48271) % 2147483647;
    return 0.75 + (seed / 2147483647) * 0.5;
  };
  const answer = (periodMs: number) => {
    const hourOfDay = (time.now() % DAY_MS) / HOUR_MS;
    const busy = 0.15 + 0.85 * Math.max(0, Math.sin(((hourOfDay - 6) / 24) * 2 * Math.PI)) ** 2;
    const original = Math.round(((40 * 2 ** 20 * periodMs) / HOUR_MS) * busy * jitter());
    const variantShare = time.now() < end - 10 * DAY_MS ? 0.45 : 0.3;
    answered(metrics, 'variant', Math.round(original * 0.7), Math.round(original * 0.7 * variantShare));
    answered(metrics, 'original', Math.round(original * 0.2), Math.round(original * 0.2));
    answered(metrics, 'skipped', Math.round(original * 0.1), Math.round(original * 0.1));
  };
  for (const [until, step] of [[end - 48 * HOUR_MS, 10 * MINUTE_MS], [end, MINUTE_MS]] as const) {
    while (time.now() < until) {
      answer(step);
      await recorder.sample();
      time.advance(step);
    }
  }
  await recorder.stop();
  await store.close();
}

describe('the savings history on the status page, in a real browser (issue 19)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let browser: Browser;
  let removeStore: () => void;
  before(async () => {
    const store = historyStorePath();
    removeStore = store.remove;
    await simulateMonth(store.path, Date.now());
    origin = await startOrigin((_req, res) => res.writeHead(404).end());
    // A proxy started on that store finds the month in it.
    proxy = await startProxy({ origin: origin.url, elements: `<image-compression/><store path="${store.path}" max-size="256MiB"/>` });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await proxy?.stop(5000);
    await origin?.close();
    removeStore?.();
  });

  it('draws two days by the minute and a month by the hour from the store, as /api/status gives them', async () => {
    const admin = proxy.running.adminUrl!;
    const { savings } = JSON.parse((await fetchRaw(new URL('api/status', admin))).body.toString()) as { savings: SavingsHistoryView };
    assert.ok(savings.minutes.length > 2800, `${savings.minutes.length} minutes`);
    assert.ok(savings.hours.length > 700, `${savings.hours.length} hours`);

    const tab = await browser.newPage({ viewport: { width: 900, height: 900 } });
    const errors: string[] = [];
    tab.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(new URL('status', admin).href, { waitUntil: 'load' });
    const charts = tab.locator('svg.savings');
    assert.equal(await charts.count(), 2);

    // The page's windows end at its own moment (its footer says when): the API's points within them are what it drew.
    const pageNow = Date.parse((await tab.locator('small', { hasText: ' · up ' }).textContent())!.split(' ')[0]!);
    const within = (points: readonly SavingsPoint[], periodMs: number, periods: number) => {
      const last = Math.floor(pageNow / periodMs) * periodMs;
      return points.filter((point) => point.at > last - periods * periodMs && point.at <= last);
    };
    const sum = (points: readonly SavingsPoint[], side: 'original' | 'sent') => points.reduce((total, point) => total + Object.values(point.byOutcome).reduce((s, bytes) => s + bytes[side], 0), 0);
    const label = (title: string, points: readonly SavingsPoint[]) =>
      `${title}: ${byteText(sum(points, 'original'))} from the origin, ${byteText(sum(points, 'sent'))} sent, ${byteText(sum(points, 'original') - sum(points, 'sent'))} saved`;
    const labels = await charts.evaluateAll((svgs) => svgs.map((svg) => (svg as unknown as { getAttribute(name: string): string | null }).getAttribute('aria-label')));
    assert.deepEqual(labels, [label('Last 48 hours, per minute', within(savings.minutes, MINUTE_MS, 48 * 60)), label('Last 30 days, per hour', within(savings.hours, HOUR_MS, 30 * 24))]);

    for (const [index, chart] of [await charts.nth(0).elementHandle(), await charts.nth(1).elementHandle()].entries()) {
      assert.ok(chart);
      // No named function inside the page's function: tsx would name it with a helper the page does not have.
      const drawn = await chart.evaluate((element) => {
        // The page's SVG DOM, typed here as far as this reads it (the project compiles without the DOM's types).
        const svg = element as unknown as { querySelector(selector: string): { points: { numberOfItems: number } } | null; getBoundingClientRect(): { width: number; height: number } };
        const [origin = 0, sent = 0, saved = 0] = ['origin', 'sent', 'saved'].map((name) => svg.querySelector(`[data-series="${name}"]`)?.points.numberOfItems ?? 0);
        const box = svg.getBoundingClientRect();
        return { origin, sent, saved, width: box.width, height: box.height };
      });
      assert.ok(drawn.width > 500 && drawn.height > 150, `chart ${index} laid out: ${JSON.stringify(drawn)}`);
      // A line follows the data: a month of busy days and quiet nights is far from flat.
      assert.ok(drawn.origin > 100 && drawn.sent > 100, `chart ${index} lines: ${JSON.stringify(drawn)}`);
      assert.equal(drawn.saved, drawn.origin + drawn.sent);
      // Painted: the rendered chart is mostly the page's white, with the lines and the shaded saving on it.
      const { data, info } = await sharp(await chart.screenshot()).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let inked = 0;
      let green = 0;
      for (let i = 0; i < data.length; i += info.channels) {
        const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
        if (r < 235 || g < 235 || b < 235) inked += 1;
        if (g > r + 20 && g > b + 5) green += 1;
      }
      const pixels = info.width * info.height;
      assert.ok(inked > pixels * 0.05 && inked < pixels * 0.9, `chart ${index}: ${inked} of ${pixels} pixels drawn`);
      assert.ok(green > pixels * 0.02, `chart ${index}: the saving shaded (${green} green pixels)`);
    }
    assert.deepEqual(errors, [], 'no error, no refused resource (the page loads nothing from outside)');

    // The history section alone (the rest of the page is this process's counters, empty here): for docs/.
    const top = await tab.locator('h2', { hasText: 'Last 48 hours' }).boundingBox();
    const bottom = await tab.locator('p', { hasText: 'The history is kept in the store' }).boundingBox();
    assert.ok(top && bottom);
    const artifacts = new URL('test/artifacts/', PROJECT_ROOT);
    mkdirSync(artifacts, { recursive: true });
    await tab.screenshot({ path: new URL('status-history.png', artifacts).pathname, fullPage: true, clip: { x: 0, y: Math.max(0, top.y - 8), width: 900, height: bottom.y + bottom.height + 8 - Math.max(0, top.y - 8) } });
  });
});
