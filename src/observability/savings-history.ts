import { type OutcomeBytes, SAVINGS_PERIOD_MS as PERIOD_MS, type SavingsKept, type SavingsPeriod, type SavingsRecord, savingsRecordOf } from '../store/records.js';

export const MINUTE_MS = PERIOD_MS.minute;
export const HOUR_MS = PERIOD_MS.hour;
/** How far back each resolution goes: minutes for two days, hours for thirty (issue 19). */
export const KEPT_MS: Readonly<Record<SavingsPeriod, number>> = { minute: 48 * HOUR_MS, hour: 30 * 24 * HOUR_MS };
const PERIODS: readonly SavingsPeriod[] = ['minute', 'hour'];

/** Where the minute or hour holding `time` starts. */
export const startOf = (period: SavingsPeriod, time: number): number => Math.floor(time / PERIOD_MS[period]) * PERIOD_MS[period];

/** A point as `/api/status` gives it: where its minute or hour starts (ms since the epoch), its bytes by outcome. */
export type SavingsPoint = Omit<SavingsRecord, 'period'>;

/** The history as `/api/status` gives it and the status page draws it, oldest first. */
export interface SavingsHistoryView {
  readonly minutes: readonly SavingsPoint[];
  readonly hours: readonly SavingsPoint[];
}

/** `a` and `b` added outcome by outcome. */
function added(a: Readonly<Record<string, OutcomeBytes>> | undefined, b: Readonly<Record<string, OutcomeBytes>>): Record<string, OutcomeBytes> {
  const sum: Record<string, OutcomeBytes> = { ...a };
  for (const [outcome, bytes] of Object.entries(b)) sum[outcome] = { original: (sum[outcome]?.original ?? 0) + bytes.original, sent: (sum[outcome]?.sent ?? 0) + bytes.sent };
  return sum;
}

/**
 * The savings history in memory: the image bytes of each minute for 48 hours and of each hour for 30 days, by
 * outcome. Bytes go to their minute and to their hour at once, so the hours cover the last two days too and the
 * 30-day chart needs no minutes. Only periods with answers have a point (a missing one is nothing answered, or the
 * proxy down: either way nothing saved). Bounded: at most 2880 minutes and 720 hours are ever kept.
 *
 * The bound holds whatever the clock does. Kept is what lies between the oldest period kept and the current one, as
 * the clock says now: a clock set forward drops what is now too old (the clock is all the history knows of time),
 * and a clock set back drops what was recorded ahead of it, rather than keep points later than now that would
 * outlive the bound (and the 30 days) until the clock caught up with them.
 */
export class SavingsHistory {
  private readonly points: Readonly<Record<SavingsPeriod, Map<number, SavingsRecord>>> = { minute: new Map(), hour: new Map() };
  /** Points changed since they were last taken for writing (see `takeUnsaved`). */
  private readonly unsaved: Readonly<Record<SavingsPeriod, Set<number>>> = { minute: new Set(), hour: new Set() };
  private dropped = false;

  /**
   * Starts from `kept` (read from the store), less what is outside the history at `now`, and less what is not a
   * point (`savingsRecordOf`: the store leaves those out already; this holds for any table).
   */
  constructor(kept: readonly SavingsRecord[], now: number) {
    for (const read of kept) {
      const record = savingsRecordOf(read.period, read.at, read.byOutcome);
      if (record) this.points[record.period].set(record.at, record);
    }
    this.expire(now);
    // What the store holds beyond the bound goes with the next write, not with a write of its own at start.
    this.dropped = false;
  }

  /** Adds bytes counted at `now` to its minute and its hour, and drops what is older than the history keeps. */
  add(now: number, byOutcome: Readonly<Record<string, OutcomeBytes>>): void {
    if (Object.keys(byOutcome).length > 0) {
      for (const period of PERIODS) {
        const at = startOf(period, now);
        this.points[period].set(at, { period, at, byOutcome: added(this.points[period].get(at)?.byOutcome, byOutcome) });
        this.unsaved[period].add(at);
      }
    }
    this.expire(now);
  }

  /** Per period, the starts of the oldest and the newest point kept at `now` (the current period's). */
  kept(now: number): SavingsKept {
    return { minute: this.keptSpan('minute', now), hour: this.keptSpan('hour', now) };
  }

  private keptSpan(period: SavingsPeriod, now: number): { from: number; to: number } {
    const to = startOf(period, now);
    return { from: to - KEPT_MS[period] + PERIOD_MS[period], to };
  }

  private expire(now: number): void {
    for (const period of PERIODS) {
      const { from, to } = this.keptSpan(period, now);
      for (const at of this.points[period].keys()) {
        if (at >= from && at <= to) continue;
        this.points[period].delete(at);
        this.unsaved[period].delete(at);
        this.dropped = true;
      }
    }
  }

  /** Whether the store is behind: a point changed or dropped since the last `takeUnsaved`. */
  get changed(): boolean {
    return this.dropped || this.unsaved.minute.size > 0 || this.unsaved.hour.size > 0;
  }

  /** The points changed since the last call, to be written; `putBack` if the write fails. */
  takeUnsaved(): SavingsRecord[] {
    const points = PERIODS.flatMap((period) => [...this.unsaved[period]].map((at) => this.points[period].get(at)!));
    for (const period of PERIODS) this.unsaved[period].clear();
    this.dropped = false;
    return points;
  }

  /**
   * Points a write did not keep: written again with the next one (their current values then), unless they have
   * been dropped meanwhile. Until then the history is only in memory (a full disk).
   */
  putBack(points: readonly SavingsRecord[]): void {
    for (const { period, at } of points) if (this.points[period].has(at)) this.unsaved[period].add(at);
    this.dropped = true;
  }

  view(): SavingsHistoryView {
    const sorted = (period: SavingsPeriod) => [...this.points[period].values()].sort((a, b) => a.at - b.at).map(({ at, byOutcome }) => ({ at, byOutcome }));
    return { minutes: sorted('minute'), hours: sorted('hour') };
  }
}
