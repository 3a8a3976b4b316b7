import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SavingsHistoryView, SavingsPoint } from '../../src/observability/savings-history.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { SavingsRecorder } from '../../src/observability/savings-recorder.js';
import { ImageStore } from '../../src/store/image-store.js';
import { fetchRaw } from '../support/client.js';
import { metricSamples } from '../support/metrics-text.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy } from '../support/proxy.js';
import { answered, SAVINGS_DAMAGE, writeSavingsTable } from '../support/savings.js';

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
  it('starts on a store whose history holds damaged points: /status and /api/status show the points kept, the damage is logged once (hostile review 19)', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'slimproxy-savings-')), 'store');
    // A point of this minute, as a proxy before wrote it.
    const table = new ImageStore(store, 256 * 2 ** 20);
    const metrics = createMetrics();
    const recorder = new SavingsRecorder(metrics, table);
    answered(metrics, 'variant', 3000, 1000);
    await recorder.stop();
    const kept = recorder.view();
    await table.close();
    // Each kind of damage in a minute of its own before it: a value that does not decode stopped the start.
    const thisMinute = Math.floor(Date.now() / 60_000) * 60_000;
    await writeSavingsTable(store, (raw) => SAVINGS_DAMAGE.forEach(({ write }, i) => write(raw, thisMinute - (i + 1) * 60_000)));

    const proxy = await startProxy({ origin: origin.url, elements: `<image-compression/><store path="${store}" max-size="256MiB"/>` });
    try {
      const admin = proxy.running.adminUrl!;
      const api = await fetchRaw(new URL('api/status', admin));
      assert.equal(api.status, 200);
      assert.deepEqual((JSON.parse(api.body.toString()) as ApiStatus).savings, kept);
      const page = await fetchRaw(new URL('status', admin));
      assert.equal(page.status, 200);
      assert.match(page.body.toString(), /Last 48 hours, per minute: 2\.9 KB from the origin, 1000 B sent, 2 KB saved/);
      assert.doesNotMatch(page.body.toString(), /NaN/);
      const lines = proxy.logs.filter((line) => line.msg === 'store: damaged entries left out');
      assert.deepEqual(
        lines.map(({ table, entries }) => ({ table, entries })),
        [{ table: 'savings', entries: SAVINGS_DAMAGE.length }],
      );
    } finally {
      await proxy.stop(5000);
    }
  });

  it('answers /api/status in compact JSON: at the history\'s bound (2,880 minutes, 720 hours) under half of it indented (hostile review 19)', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'slimproxy-savings-')), 'store');
    const table = new ImageStore(store, 256 * 2 ** 20);
    // Four outcomes a point, every minute and hour kept: the most the history ever holds.
    const point = (i: number) => ({
      variant: { original: 123_456_789 + i, sent: 23_456_789 + i },
      original: { original: 9_876_543 + i, sent: 9_876_543 + i },
      skipped: { original: 555_555 + i, sent: 555_555 + i },
      'passed-through': { original: 4444 + i, sent: 4444 + i },
    });
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const points = [
      ...Array.from({ length: 2880 }, (_, i) => ({ period: 'minute' as const, at: minute - i * 60_000, byOutcome: point(i) })),
      ...Array.from({ length: 720 }, (_, i) => ({ period: 'hour' as const, at: hour - i * 3_600_000, byOutcome: point(i) })),
    ];
    assert.ok(await table.putSavings(points, { minute: { from: 0, to: minute }, hour: { from: 0, to: hour } }));
    await table.close();

    const proxy = await startProxy({ origin: origin.url, elements: `<image-compression/><store path="${store}" max-size="256MiB"/>` });
    try {
      const admin = proxy.running.adminUrl!;
      const body = (await fetchRaw(new URL('api/status', admin))).body.toString();
      const status = JSON.parse(body) as ApiStatus;
      // The oldest minute may have aged out if a minute turned meanwhile.
      assert.ok(status.savings && status.savings.minutes.length >= 2879 && status.savings.hours.length >= 719);
      assert.equal(body, `${JSON.stringify(status)}\n`, 'compact');
      const indented = JSON.stringify(status, null, 2).length;
      assert.ok(body.length < indented / 2, `${body.length} bytes, ${indented} indented`);
    } finally {
      await proxy.stop(5000);
    }
  });
});
