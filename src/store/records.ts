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
