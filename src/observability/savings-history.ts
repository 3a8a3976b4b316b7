import type { OutcomeBytes, SavingsPeriod, SavingsRecord } from '../store/records.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
const PERIOD_MS: Readonly<Record<SavingsPeriod, number>> = { minute: MINUTE_MS, hour: HOUR_MS };
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
 */
export class SavingsHistory {
  private readonly points: Readonly<Record<SavingsPeriod, Map<number, SavingsRecord>>> = { minute: new Map(), hour: new Map() };
  /** Points changed since they were last taken for writing (see `takeUnsaved`). */
  private readonly unsaved: Readonly<Record<SavingsPeriod, Set<number>>> = { minute: new Set(), hour: new Set() };
  private dropped = false;

  /** Starts from `kept` (read from the store), less what is older than the history keeps at `now`. */
  constructor(kept: readonly SavingsRecord[], now: number) {
    for (const record of kept) this.points[record.period].set(record.at, record);
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

  /** Per period, the start of the oldest point kept at `now`. */
  keepFrom(now: number): Readonly<Record<SavingsPeriod, number>> {
    return { minute: this.oldestKept('minute', now), hour: this.oldestKept('hour', now) };
  }

  private oldestKept(period: SavingsPeriod, now: number): number {
    return startOf(period, now) - KEPT_MS[period] + PERIOD_MS[period];
  }

  private expire(now: number): void {
    for (const period of PERIODS) {
      const from = this.oldestKept(period, now);
      for (const at of this.points[period].keys()) {
        if (at >= from) continue;
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
