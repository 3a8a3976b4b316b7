import type { OutcomeBytes, SavingsKept, SavingsRecord } from '../store/records.js';
import type { Metrics } from './metrics.js';
import { MINUTE_MS, SavingsHistory, type SavingsHistoryView, startOf } from './savings-history.js';

/** What the recorder needs of the store (`ImageStore`): the history's records, and writing them. */
export interface SavingsTable {
  /** What is kept; what is damaged left out (the store reports it, and removes it with the next write). */
  savingsRecords(): SavingsRecord[];
  /** Writes `points` and removes the points outside `kept`. False when the write failed: the store reports why and never throws it. */
  putSavings(points: readonly SavingsRecord[], kept: SavingsKept): Promise<boolean>;
}

/** What a table keeps, or nothing when it cannot be read: the history is the status page's, never a reason not to start. */
function keptIn(table: SavingsTable): SavingsRecord[] {
  try {
    return table.savingsRecords();
  } catch {
    return [];
  }
}

/**
 * How long before a minute ends it is sampled: a timer firing late (a busy event loop) still finds its minute. What
 * is counted in that last second goes to the next minute.
 */
const SAMPLE_LEAD_MS = 1000;

/**
 * Keeps the savings history (see `SavingsHistory`) from the image byte counters: once a minute it takes how much
 * they grew, by outcome, and writes the minute in one small transaction. Nothing is added to the request path: the
 * counters are counted there anyway. A write that fails leaves the history in memory, written with the next one
 * that works.
 */
export class SavingsRecorder {
  private readonly history: SavingsHistory;
  /** The counters as the last sample read them, by outcome: they count from 0 at start, as the history does. */
  private readonly counted = new Map<string, OutcomeBytes>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Samples one after the other: the timer's and the last one at `stop` never interleave their writes. */
  private sampling: Promise<void> = Promise.resolve();

  /** `now` is the clock (ms since the epoch): tests pass months of minutes through it without waiting. */
  constructor(
    private readonly metrics: Metrics,
    private readonly table: SavingsTable,
    private readonly now: () => number = Date.now,
  ) {
    this.history = new SavingsHistory(keptIn(table), now());
  }

  /** Samples just before the end of every minute from now on (the timer keeps no process alive). */
  start(): void {
    if (this.stopped || this.timer) return;
    const now = this.now();
    let next = startOf('minute', now) + MINUTE_MS - SAMPLE_LEAD_MS;
    if (next <= now) next += MINUTE_MS;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sample().then(
        () => this.start(),
        // `sample` has no failure of its own to report (the store reports its writes'): the next minute tries again.
        () => this.start(),
      );
    }, next - now);
    this.timer.unref();
  }

  /** Takes what the counters counted since the last sample into the history, and writes what changed. */
  sample(): Promise<void> {
    const next = this.sampling.then(() => this.sampleNow());
    this.sampling = next.catch(() => undefined);
    return next;
  }

  private async sampleNow(): Promise<void> {
    const grown = await this.growth();
    const now = this.now();
    this.history.add(now, grown);
    if (!this.history.changed) return;
    const points = this.history.takeUnsaved();
    if (!(await this.table.putSavings(points, this.history.kept(now)))) this.history.putBack(points);
  }

  /** How much the image byte counters grew since the last sample, by outcome (outcomes that did not grow left out). */
  private async growth(): Promise<Record<string, OutcomeBytes>> {
    const totals = new Map<string, { original: number; sent: number }>();
    for (const { labels, value } of (await this.metrics.imageBytes.get()).values) {
      const outcome = String(labels.outcome);
      const total = totals.get(outcome) ?? { original: 0, sent: 0 };
      if (labels.side === 'original') total.original += value;
      else if (labels.side === 'sent') total.sent += value;
      totals.set(outcome, total);
    }
    const grown: Record<string, OutcomeBytes> = {};
    for (const [outcome, total] of totals) {
      const before = this.counted.get(outcome) ?? { original: 0, sent: 0 };
      this.counted.set(outcome, total);
      const original = Math.max(0, total.original - before.original);
      const sent = Math.max(0, total.sent - before.sent);
      if (original > 0 || sent > 0) grown[outcome] = { original, sent };
    }
    return grown;
  }

  view(): SavingsHistoryView {
    return this.history.view();
  }

  /** Stops the timer and writes the last minute (before the store closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sample();
  }
}
