/** What the store keeps about an original (SPEC §8): its validators, what it is, where its bytes are. */
export interface OriginalRecord {
  readonly url: string;
  /** sha256 of the bytes (hex): the key of the bytes, and how a changed original is noticed. */
  readonly digest: string;
  readonly size: number;
  readonly contentType: string;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly cacheControl?: string;
  readonly expires?: string;
  /** The origin's CORS and security fields (`keptFields`), sent with every version of the image. */
  readonly fields?: Readonly<Record<string, string>>;
  /** When the origin last confirmed these bytes (ms since the epoch). */
  readonly validatedAt: number;
  /** The origin's `Age` then (a cache in front of it had held them that long), seconds. */
  readonly age?: number;
  /** Why it is passed through as it is (SPEC §5.3), when it is. */
  readonly skip?: string;
  /** What the probe read from its header (absent when skipped). */
  readonly facts?: { readonly type: 'jpeg' | 'png' | 'gif' | 'webp' | 'avif'; readonly width: number; readonly height: number; readonly frames: number; readonly hasAlpha: boolean };
}

/**
 * A version of an original the store keeps under a slot: an experiment's outcome (slot: the experiment's name;
 * every mark that allows its format may be served it), a conversion for marks that allow none of the original's
 * format, or an image-API transform (slot: its canonical options).
 */
export interface VariantRecord {
  readonly originalDigest: string;
  /** The engine settings it was made under (their digest): an outcome of other settings is not reused. */
  readonly settings?: string;
  /** sha256 of the variant's bytes (hex), checked before every use. */
  readonly digest: string;
  readonly size: number;
  readonly experiment: string;
  readonly format: string;
  readonly contentType: string;
  readonly quality?: number;
  readonly dssim: number;
  /** Content coding the bytes are stored in (ZorroSVG: gzip). */
  readonly contentEncoding?: 'gzip';
  /** Why it falls short of what was asked (e.g. a size target it cannot fit), sent as `X-Slimproxy-Skip`. */
  readonly shortfall?: string;
  /** Image API: the operations done (crop, resize, format, quality). */
  readonly operations?: string;
  readonly createdAt: number;
}

/** Which experiments have run on an original (by its digest), under which engine settings. */
export interface ProgressRecord {
  readonly originalDigest: string;
  readonly settings: string;
  readonly done: readonly string[];
  /** The marks whose requests started them (the status page's "final": some mark's whole plan done). */
  readonly marks?: readonly string[];
}

/** How often and how lately an original was asked for: the experiment queue's order and the eviction order. */
export interface RequestRecord {
  readonly count: number;
  readonly lastRequested: number;
  /** Off probation (requested twice or more): in the main segment of the eviction order. */
  readonly main?: boolean;
  /** Bytes the original and its variants hold in the store. */
  readonly held?: number;
}

/** The two resolutions of the savings history: a point per minute, and per hour. */
export type SavingsPeriod = 'minute' | 'hour';

/** How long each period of the savings history is. */
export const SAVINGS_PERIOD_MS: Readonly<Record<SavingsPeriod, number>> = { minute: 60_000, hour: 3_600_000 };

/** Image bytes answered in a period for one outcome (variant, original, skipped, …): as the origin has them, and as sent. */
export interface OutcomeBytes {
  readonly original: number;
  readonly sent: number;
}

/** One point of the savings history: the image bytes of the answers counted in a minute or an hour, by outcome. */
export interface SavingsRecord {
  readonly period: SavingsPeriod;
  /** Where the minute or hour starts (ms since the epoch). */
  readonly at: number;
  readonly byOutcome: Readonly<Record<string, OutcomeBytes>>;
}

/** Per period, the times of the points the history keeps, both ends included: the store removes the others. */
export type SavingsKept = Readonly<Record<SavingsPeriod, { readonly from: number; readonly to: number }>>;

/** A byte count as the history keeps it: finite, from 0 to 2⁵³ (the sums of a month of them stay finite and exact). */
const isByteCount = (value: unknown): value is number => typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER;

/**
 * A point of the savings history as read back, or `undefined` when what was read is not one: a value that is not an
 * object of outcomes, an outcome that is not two byte counts (null, a string, negative, not finite), a time not at
 * the start of its period. Only what a point holds is kept (no stray fields). Each is drawn and summed by the status
 * page: one such point made `/status` fail, or drew NaN.
 */
export function savingsRecordOf(period: SavingsPeriod, at: number, value: unknown): SavingsRecord | undefined {
  const periodMs = Object.hasOwn(SAVINGS_PERIOD_MS, period) ? SAVINGS_PERIOD_MS[period] : undefined;
  if (periodMs === undefined || !Number.isSafeInteger(at) || at < 0 || at % periodMs !== 0) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const byOutcome: Record<string, OutcomeBytes> = {};
  for (const [outcome, bytes] of Object.entries(value as Record<string, unknown>)) {
    // An own property of that name would set the object's prototype instead.
    if (outcome === '__proto__' || typeof bytes !== 'object' || bytes === null) return undefined;
    const { original, sent } = bytes as Record<string, unknown>;
    if (!isByteCount(original) || !isByteCount(sent)) return undefined;
    byOutcome[outcome] = { original, sent };
  }
  return { period, at, byOutcome };
}
