import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SavingsHistoryView, SavingsPoint } from '../../src/observability/savings-history.js';
import { fetchRaw } from '../support/client.js';
import { metricSamples } from '../support/metrics-text.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));

interface ApiStatus {
  readonly images: { readonly bytesOriginal: number; readonly bytesSent: number };
  readonly savings?: SavingsHistoryView;
}

const apiStatus = async (admin: URL) => JSON.parse((await fetchRaw(new URL('api/status', admin))).body.toString()) as ApiStatus;

/** Bytes of every point by outcome, summed. */
function byOutcome(points: readonly SavingsPoint[]): Record<string, { original: number; sent: number }> {
  const sums: Record<string, { original: number; sent: number }> = {};
  for (const point of points) {
    for (const [outcome, bytes] of Object.entries(point.byOutcome)) sums[outcome] = { original: (sums[outcome]?.original ?? 0) + bytes.original, sent: (sums[outcome]?.sent ?? 0) + bytes.sent };
  }
  return sums;
}

describe('the savings history through the proxy (issue 19)', () => {
  let origin: TestOrigin;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(photo);
    });
  });
  after(() => origin.close());

  it('keeps the minute of the answers a proxy sent, and /api/status and /status of the next proxy on the same store show it', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'slimproxy-savings-')), 'store');
    const elements = `<image-compression/><store path="${store}" max-size="256MiB"/>`;

    const first = await startProxy({ origin: origin.url, elements });
    let totals: ApiStatus['images'];
    try {
      await fetchRaw(new URL('/a.jpg?m=ic', first.url));
      await first.running.experimentsIdle();
      await fetchRaw(new URL('/a.jpg?m=ic', first.url));
      await fetchRaw(new URL('/a.jpg?m=ic', first.url));
      const admin = first.running.adminUrl!;
      const status = await apiStatus(admin);
      totals = status.images;
      assert.ok(totals.bytesOriginal > totals.bytesSent, 'something saved');
      assert.ok(status.savings, '/api/status has the history');
      // The bytes by outcome, as the history takes them from the counters.
      const samples = metricSamples((await fetchRaw(new URL('metrics', admin))).body.toString(), 'slimproxy_image_bytes_total');
      const sample = (side: string, outcome: string) => samples.find((s) => s.labels.side === side && s.labels.outcome === outcome)?.value;
      assert.equal(sample('original', 'original'), photo.length);
      assert.equal(sample('sent', 'original'), photo.length);
      assert.equal(sample('original', 'variant'), 2 * photo.length);
      assert.ok(sample('sent', 'variant')! < 2 * photo.length);
    } finally {
      // Stopping writes the last minute (the timer writes at the end of each minute).
      await first.stop(5000);
    }

    const second = await startProxy({ origin: origin.url, elements });
    try {
      const admin = second.running.adminUrl!;
      const status = await apiStatus(admin);
      assert.ok(status.savings);
      assert.equal(status.images.bytesOriginal, 0, "this process's counters start again");
      const minutes = byOutcome(status.savings.minutes);
      assert.deepEqual(Object.keys(minutes).sort(), ['original', 'variant']);
      assert.equal(minutes.original!.original + minutes.variant!.original, totals.bytesOriginal);
      assert.equal(minutes.original!.sent + minutes.variant!.sent, totals.bytesSent);
      assert.deepEqual(byOutcome(status.savings.hours), minutes, 'the hours hold the same bytes');
      for (const point of [...status.savings.minutes, ...status.savings.hours]) assert.ok(Math.abs(Date.now() - point.at) < 2 * 3_600_000, `a recent point: ${new Date(point.at).toISOString()}`);

      const page = (await fetchRaw(new URL('status', admin))).body.toString();
      const saved = (totals.bytesOriginal - totals.bytesSent) / 1024;
      // The same bytes drawn in both charts (their labels round to a tenth of a KB, as the chart's own do).
      const label = (title: string) => new RegExp(`aria-label="${title}: [\\d.]+ KB from the origin, [\\d.]+ KB sent, ${Number(saved.toFixed(1))} KB saved"`);
      assert.match(page, label('Last 48 hours, per minute'));
      assert.match(page, label('Last 30 days, per hour'));
    } finally {
      await second.stop(5000);
    }
  });
});
