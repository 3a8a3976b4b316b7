import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { HOUR_MS, MINUTE_MS, type SavingsHistoryView, type SavingsPoint } from '../../src/observability/savings-history.js';
import { SavingsRecorder } from '../../src/observability/savings-recorder.js';
import { renderStatusPage } from '../../src/observability/status-page.js';
import { statusFromMetrics } from '../../src/observability/status.js';
import { ImageStore, type StoreOptions } from '../../src/store/image-store.js';
import { savingsKey } from '../../src/store/keys.js';
import type { SavingsRecord } from '../../src/store/records.js';
import { answered, historyStorePath, SAVINGS_DAMAGE, type TestClock, testClock, writeSavingsTable } from '../support/savings.js';
import { fill, mountTmpfs, unmount } from '../support/tmpfs.js';

const DAY_MS = 24 * HOUR_MS;
/** A Monday, 00:00:30 UTC: samples land half a minute into their minute. */
const START = Date.UTC(2026, 0, 5, 0, 0, 30);

const made: (() => void)[] = [];
after(() => {
  for (const remove of made) remove();
});
function freshPath(): string {
  const store = historyStorePath();
  made.push(store.remove);
  return store.path;
}

/** A process's part: the store at `path`, counters from 0, the recorder on the test's clock. */
function recording(path: string, time: TestClock, options: StoreOptions = {}): { store: ImageStore; metrics: Metrics; recorder: SavingsRecorder } {
  const store = new ImageStore(path, 256 * 2 ** 20, options);
  const metrics = createMetrics();
  return { store, metrics, recorder: new SavingsRecorder(metrics, store, time.now) };
}

/** A store at a fresh path holding the minute (and hour) of one answer at `time`, as a proxy stopping left it. */
async function storeOfOneMinute(time: TestClock, original: number, sent: number): Promise<{ path: string; kept: SavingsHistoryView }> {
  const path = freshPath();
  const { store, metrics, recorder } = recording(path, time);
  answered(metrics, 'variant', original, sent);
  await recorder.stop();
  await store.close();
  return { path, kept: recorder.view() };
}

const total = (points: readonly SavingsPoint[], side: 'original' | 'sent') => points.reduce((sum, point) => sum + Object.values(point.byOutcome).reduce((s, bytes) => s + bytes[side], 0), 0);
const periodOf = (records: readonly SavingsRecord[], period: SavingsRecord['period']) => records.filter((record) => record.period === period).map(({ at, byOutcome }) => ({ at, byOutcome }));

describe('the savings history', () => {
  it('records a point per minute from how much the counters grew, by outcome, and the hour as their sum', async () => {
    const time = testClock(START);
    const { store, metrics, recorder } = recording(freshPath(), time);
    answered(metrics, 'variant', 10_000, 3000);
    await recorder.sample();
    time.advance(MINUTE_MS);
    answered(metrics, 'variant', 4000, 1000);
    answered(metrics, 'skipped', 500, 500);
    await recorder.sample();
    // Two samples in one minute add up; a minute without answers has no point.
    time.advance(20_000);
    answered(metrics, 'variant', 2000, 1000);
    await recorder.sample();
    time.advance(MINUTE_MS);
    await recorder.sample();

    const minute = Date.UTC(2026, 0, 5, 0, 0);
    const expected = {
      minutes: [
        { at: minute, byOutcome: { variant: { original: 10_000, sent: 3000 } } },
        { at: minute + MINUTE_MS, byOutcome: { variant: { original: 6000, sent: 2000 }, skipped: { original: 500, sent: 500 } } },
      ],
      hours: [{ at: minute, byOutcome: { variant: { original: 16_000, sent: 5000 }, skipped: { original: 500, sent: 500 } } }],
    };
    assert.deepEqual(recorder.view(), expected);
    // Written as it was sampled, not only at stop.
    const records = store.savingsRecords();
    assert.deepEqual({ minutes: periodOf(records, 'minute'), hours: periodOf(records, 'hour') }, expected);
    await recorder.stop();
    await store.close();
  });

  it('keeps minutes for 48 hours and hours for 30 days: after months of answers the store holds no more than that', async () => {
    const time = testClock(START);
    const { store, metrics, recorder } = recording(freshPath(), time);
    // 100 days sampled every 37 minutes (every hour gets answers), then the last 50 hours every minute.
    const end = START + 100 * DAY_MS;
    let sampled = 0;
    while (time.now() < end) {
      answered(metrics, 'variant', 3000, 1000);
      await recorder.sample();
      sampled += 1;
      time.advance(37 * MINUTE_MS);
    }
    time.set(end);
    let now = end;
    for (let minute = 0; minute < 50 * 60; minute += 1) {
      answered(metrics, 'variant', 3000, 1000);
      answered(metrics, 'original', 200, 200);
      now = time.now();
      await recorder.sample();
      sampled += 1;
      time.advance(MINUTE_MS);
    }
    const view = recorder.view();
    assert.equal(view.minutes.length, 48 * 60, 'every minute of the last 48 hours, none older');
    assert.equal(view.hours.length, 30 * 24, 'every hour of the last 30 days, none older');
    assert.ok(view.minutes[0]!.at > now - 48 * HOUR_MS, `oldest minute ${(now - view.minutes[0]!.at) / HOUR_MS} h old`);
    assert.ok(view.hours[0]!.at > now - 30 * DAY_MS, `oldest hour ${(now - view.hours[0]!.at) / DAY_MS} days old`);
    // Each hour the minutes still cover is the sum of its minutes; older hours outlive their minutes.
    const lastHour = view.hours.at(-1)!;
    const itsMinutes = view.minutes.filter((point) => point.at >= lastHour.at && point.at < lastHour.at + HOUR_MS);
    assert.equal(total([lastHour], 'original'), total(itsMinutes, 'original'));
    assert.equal(total([lastHour], 'sent'), total(itsMinutes, 'sent'));
    assert.deepEqual(lastHour.byOutcome.original, { original: 200 * itsMinutes.length, sent: 200 * itsMinutes.length });
    const hourBeforeMinutes = view.hours.find((point) => point.at + HOUR_MS <= view.minutes[0]!.at)!;
    assert.ok(total([hourBeforeMinutes], 'original') > 0, 'hours older than the minutes are kept');
    // What the store holds is the same bounded history: old points were removed from it, not only from memory.
    const records = store.savingsRecords();
    assert.equal(records.length, 48 * 60 + 30 * 24, `${sampled} samples, ${records.length} points stored`);
    assert.deepEqual({ minutes: periodOf(records, 'minute'), hours: periodOf(records, 'hour') }, view);
    // Kept beside the images: not counted as image bytes, so never the reason for an eviction.
    assert.equal(store.size, 0);
    await recorder.stop();
    await store.close();
  });

  it('survives a restart: the same store path gives the same history, and new answers add to it', async () => {
    const path = freshPath();
    const time = testClock(START);
    let { store, metrics, recorder } = recording(path, time);
    for (let minute = 0; minute < 90; minute += 1) {
      answered(metrics, minute % 3 === 0 ? 'skipped' : 'variant', 1000 + minute, 400);
      await recorder.sample();
      time.advance(MINUTE_MS);
    }
    // Answers since the last sample: written by stop, as the proxy stops.
    answered(metrics, 'variant', 7000, 1000);
    await recorder.stop();
    const before = recorder.view();
    assert.equal(before.minutes.length, 91);
    await store.close();

    ({ store, metrics, recorder } = recording(path, time));
    assert.deepEqual(recorder.view(), before);
    // The new process's counters start at 0: its answers add to the minute the last one left.
    answered(metrics, 'variant', 3000, 1000);
    await recorder.stop();
    const after = recorder.view();
    assert.deepEqual(after.minutes.at(-1)!.byOutcome.variant, { original: 10_000, sent: 2000 });
    assert.equal(total(after.hours, 'original'), total(before.hours, 'original') + 3000);
    await store.close();
  });

  it('drops at start what aged out while the proxy was stopped', async () => {
    const time = testClock(START);
    const { path } = await storeOfOneMinute(time, 1000, 100);
    time.advance(3 * DAY_MS);
    const { store, metrics, recorder } = recording(path, time);
    assert.deepEqual(recorder.view(), { minutes: [], hours: [{ at: Date.UTC(2026, 0, 5, 0), byOutcome: { variant: { original: 1000, sent: 100 } } }] });
    time.advance(28 * DAY_MS);
    answered(metrics, 'variant', 50, 10);
    await recorder.stop();
    assert.deepEqual(store.savingsRecords().map((record) => record.at), [startOfMinute(time.now()), startOfHour(time.now())], 'the month-old hour is gone from the store too');
    await store.close();
  });
});

const startOfMinute = (time: number) => Math.floor(time / MINUTE_MS) * MINUTE_MS;
const startOfHour = (time: number) => Math.floor(time / HOUR_MS) * HOUR_MS;

describe('the savings history on a full disk', () => {
  it('stays in memory while the store cannot write, never throwing, and is written once it can', async () => {
    const mount = mountTmpfs('4m');
    try {
      const path = join(mount, 'store');
      const failures: string[] = [];
      const time = testClock(START);
      const { store, metrics, recorder } = recording(path, time, { retryMs: 0, events: { writeFailed: (reason) => failures.push(reason) } });
      answered(metrics, 'variant', 1000, 100);
      await recorder.sample();
      assert.equal(store.savingsRecords().length, 2, 'a minute and its hour written');

      const filler = fill(mount);
      for (let minute = 1; minute <= 10; minute += 1) {
        time.advance(MINUTE_MS);
        answered(metrics, 'variant', 1000, 100);
        // Resolves: a failed write is the store's to report, the history keeps the minute.
        await recorder.sample();
      }
      assert.ok(failures.length > 0, 'the disk was full for the writes');
      assert.ok(failures.every((reason) => reason === 'disk-full'), failures.join(', '));
      assert.ok(periodOf(store.savingsRecords(), 'minute').length < 11, 'not every minute reached the store');
      assert.equal(recorder.view().minutes.length, 11, 'every minute kept in memory');

      rmSync(filler);
      time.advance(MINUTE_MS);
      answered(metrics, 'skipped', 500, 500);
      await recorder.stop();
      const written = recorder.view();
      assert.equal(written.minutes.length, 12);
      await store.close();
      const reopened = new ImageStore(path, 256 * 2 ** 20);
      const records = reopened.savingsRecords();
      assert.deepEqual({ minutes: periodOf(records, 'minute'), hours: periodOf(records, 'hour') }, written, 'the minutes of the full disk were written with the next write that worked');
      await reopened.close();
    } finally {
      unmount(mount);
    }
  });
});

describe('a damaged savings history (hostile review 19)', () => {
  for (const { what, write } of SAVINGS_DAMAGE) {
    it(`${what}: left out and reported once, never thrown at the start or at the status page, removed with the next write`, async () => {
      const time = testClock(START);
      const { path, kept } = await storeOfOneMinute(time, 3000, 1000);
      // The minute before the one kept: inside what the history keeps.
      await writeSavingsTable(path, (table) => write(table, startOfMinute(START) - MINUTE_MS));

      const dropped: unknown[] = [];
      const { store, metrics, recorder } = recording(path, time, { events: { dropped: (detail) => dropped.push(detail) } });
      assert.deepEqual(recorder.view(), kept);
      assert.deepEqual(dropped, [{ table: 'savings', entries: 1, why: 'damaged' }]);
      // The page as the admin listener renders it, at the test's moment (its charts end at `generatedAt`).
      const page = renderStatusPage({ ...(await statusFromMetrics(metrics, undefined, () => recorder.view())()), generatedAt: new Date(time.now()).toISOString() });
      assert.match(page, /Last 48 hours, per minute: 2\.9 KB from the origin, 1000 B sent, 2 KB saved/);
      assert.doesNotMatch(page, /NaN/);

      time.advance(MINUTE_MS);
      answered(metrics, 'variant', 500, 100);
      await recorder.sample();
      assert.equal(store.savingsRecords().length, 3, 'two minutes and their hour');
      assert.equal(dropped.length, 1, 'gone from the store with that write');
      await recorder.stop();
      await store.close();
    });
  }
});

describe('the savings history when the clock jumps (hostile review 19)', () => {
  it('holds its bound whatever the clock does: set forward a year and back, no point later than now is kept, in memory or in the store', async () => {
    const path = freshPath();
    const time = testClock(START);
    const { store, metrics, recorder } = recording(path, time);
    for (let minute = 0; minute < 90; minute += 1) {
      answered(metrics, 'variant', 1000, 400);
      await recorder.sample();
      time.advance(MINUTE_MS);
    }
    const corrected = time.now();
    const times = () => {
      const view = recorder.view();
      return { minutes: view.minutes.map((point) => point.at), hours: view.hours.map((point) => point.at) };
    };
    // Set forward 400 days: what was kept is older than the history keeps, by this clock.
    time.advance(400 * DAY_MS);
    answered(metrics, 'variant', 1000, 400);
    await recorder.sample();
    assert.deepEqual(times(), { minutes: [startOfMinute(time.now())], hours: [startOfHour(time.now())] });
    // Set back: what was recorded ahead of the clock goes too, rather than outlive the bound until the clock gets there.
    time.set(corrected);
    answered(metrics, 'skipped', 500, 500);
    await recorder.sample();
    assert.deepEqual(times(), { minutes: [startOfMinute(corrected)], hours: [startOfHour(corrected)] });
    const records = store.savingsRecords();
    assert.deepEqual({ minutes: periodOf(records, 'minute'), hours: periodOf(records, 'hour') }, recorder.view(), 'the store holds the same');
    await recorder.stop();
    await store.close();
  });

  it('leaves out at start what a store holds later than now, and removes it with the next write', async () => {
    const time = testClock(START);
    const { path, kept } = await storeOfOneMinute(time, 3000, 1000);
    // Ten years ahead, as a clock set forward and then back leaves them.
    const ahead = START + 10 * 365 * DAY_MS;
    await writeSavingsTable(path, ({ values }) => {
      values.putSync(savingsKey('minute', startOfMinute(ahead)), { variant: { original: 1e9, sent: 1 } });
      values.putSync(savingsKey('hour', startOfHour(ahead)), { variant: { original: 1e9, sent: 1 } });
    });
    const { store, metrics, recorder } = recording(path, time);
    assert.deepEqual(recorder.view(), kept);
    time.advance(MINUTE_MS);
    answered(metrics, 'variant', 500, 100);
    await recorder.sample();
    assert.deepEqual(
      store.savingsRecords().map((record) => record.at),
      [startOfMinute(START), startOfMinute(time.now()), startOfHour(START)],
      'nothing later than now in the store',
    );
    await recorder.stop();
    await store.close();
  });
});
