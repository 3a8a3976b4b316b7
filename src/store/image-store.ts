import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Database, type Key, open, type RootDatabase, type Transaction } from 'lmdb';
import { type OriginalRecord, type ProgressRecord, type RequestRecord, type SavingsKept, type SavingsPeriod, type SavingsRecord, savingsRecordOf, type VariantRecord } from './records.js';
import { freeBytesSync, NEARLY_FULL_BYTES, type StoreFailure, storeFailureOf, storeFailureOfSync, StoreUnavailableError } from './store-failure.js';
import { digestOf, sha256 } from './digest.js';
import { copyInSlices, digestInSlices } from './sliced.js';
import {
  bytesOwner,
  entryParts,
  originalBytesKey,
  progressKey,
  recencyKey,
  savingsKey,
  savingsKeyParts,
  type Segment,
  segmentRange,
  slotKey,
  slotOf,
  slotRange,
  storableUrl,
  UTF8_KEYS,
  variantBytesKey,
} from './keys.js';

export { sha256 };

/**
 * The store's directory, made if missing. Node's recursive mkdir reports a read-only filesystem as ENOENT; the
 * leaf is made again on its own to learn the real cause (EROFS: a disk fault to wait out, not a wrong path).
 */
function makeStoreDirectory(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync(dirname(path))) throw err;
    mkdirSync(path);
  }
}

/** Below this, bytes are hashed whole on every read (about as cheap as their fingerprint); from it, fingerprinted. */
const FINGERPRINTED_BYTES = 256 * 1024;
const FINGERPRINT_EDGE = 64 * 1024;
const FINGERPRINT_SAMPLES = 32;
const FINGERPRINT_SAMPLE = 1024;

/**
 * What identifies bytes already hashed whole, for a fraction of the cost: their length, first and last 64 KiB
 * and 32 samples of 1 KiB spread between (about 160 KiB hashed, a fraction of a millisecond). Bytes cut short,
 * replaced by another image or another version of it differ in these.
 */
function fingerprint(bytes: Buffer): string {
  const hash = createHash('sha256').update(String(bytes.length));
  hash.update(bytes.subarray(0, FINGERPRINT_EDGE));
  const step = Math.floor((bytes.length - 2 * FINGERPRINT_EDGE) / (FINGERPRINT_SAMPLES + 1));
  for (let i = 1; i <= FINGERPRINT_SAMPLES && step > FINGERPRINT_SAMPLE; i += 1) {
    const at = FINGERPRINT_EDGE + i * step;
    hash.update(bytes.subarray(at, at + FINGERPRINT_SAMPLE));
  }
  hash.update(bytes.subarray(bytes.length - FINGERPRINT_EDGE));
  return hash.digest('hex');
}

/** Bytes of their own, nothing to give back. */
export const ownBytes = (bytes: Buffer): LentBytes => ({ bytes, inPlace: false, release: () => undefined });

/** Bytes from this size on are written outside their transaction (see `stage`). */
const STAGED_BYTES = 4 * 2 ** 20;

/** lmdb's in-place read (typed there without its options): a view of the map, no copy. */
interface InPlaceReads {
  getBinaryFast(key: string, options?: { transaction: Transaction }): (Uint8Array & { readonly isGlobal?: boolean }) | undefined;
}

/** How many verified (key, digest) pairs are remembered: far more than a store holds large bodies. */
const MAX_VERIFIED = 100_000;

/** Requests noted (`noteRequest`) are written together at most this long after the first of them. */
const REQUEST_FLUSH_MS = 1000;
/** …or as soon as this many originals have requests waiting. */
const REQUEST_FLUSH_URLS = 1000;

/**
 * The layout of the image tables (kept in `meta` as `layout`). 3: keys as plain UTF-8 (`utf8Keys`, hostile review
 * 19); before it, lmdb's default key encoding, which could not read a long key back. (Earlier still: 2, outcomes
 * per (original, experiment) shared by every mark (issue 17) and the segmented recency order; 1, a best variant per
 * mark and one recency order.) A store of another layout has its images dropped at open, every table of them at
 * once: the store is a cache, and they are fetched and optimised again. The savings history stays (see `keys.ts`).
 */
const LAYOUT = 4;
/** What `meta` held for the layouts before `layout` was kept. */
const OLD_LAYOUT_MARKS = ['recency-version', 'records-version'];
/**
 * The two segments of the eviction order (a segmented LRU, as S3-FIFO and W-TinyLFU keep new entries apart): an
 * entry enters on probation and moves to the main segment on its second request. Probation is evicted first
 * while it holds more than `PROBATION_SHARE` of the bound, so a flood of one-off URLs only ever evicts itself.
 * An entry is an original (with its outcomes and conversions, which its own requests ask for), or a variant made to
 * the order of requests of its own (an image-API option set: `putVariant`'s `ownEntry`). Such a variant is counted
 * by its own requests, not its original's: an original asked for under many one-off option sets is in the main
 * segment, and charging their bytes to it carried every one of them there, past the images requested repeatedly.
 */
const PROBATION_SHARE = 0.1;
/** How many of the main segment's least and most recent entries eviction compares by their requests. */
const MAIN_SAMPLE = 32;
/**
 * Requests count half as much for every day since an entry's last: popular images of the past give way to those of
 * today, and a burst of new URLs requested twice does not outweigh images requested all week.
 */
const MAIN_HALF_LIFE_MS = 24 * 3600 * 1000;
const segmentOf = (requests: RequestRecord | undefined): Segment => (requests?.main ? 'm' : 'p');

/** A request record with `count` more requests, the last at `now`: a second request takes it off probation. */
function withRequests(previous: RequestRecord | undefined, count: number, now: number): RequestRecord {
  const total = (previous?.count ?? 0) + count;
  return { count: total, lastRequested: now, main: previous?.main === true || total >= 2, held: previous?.held ?? 0 };
}
const SAVINGS_PERIODS: readonly SavingsPeriod[] = ['minute', 'hour'];

/** Large bytes written ahead of their record (see `ImageStore.stage`), and whether `size` counts them yet. */
interface Staged {
  /** As counted against `max-size` (see `onDisk`). */
  readonly length: number;
  counted: boolean;
}

/**
 * What a stored body costs on disk beyond its bytes: its records (the original's or variant's, the request count,
 * the recency and progress entries), LMDB's nodes and the slack of half-full pages, and its URL repeated in the
 * keys of those tables. Counted against `max-size`, or a flood of tiny originals under long URLs grew the file
 * far past it (a hostile review: 4 MiB allowed, 152 MB of file for 10,000 bytes of 375 B under 800-character
 * URLs; about 1,070 B of file per 43 B original under a short URL, and 18 B more per character of URL).
 */
const STORED_ENTRY_BYTES = 1024;
const URL_COPIES_ON_DISK = 16;

/** `length` bytes under `key` as counted against `max-size` (none for none). */
function onDisk(key: string, length: number): number {
  return length === 0 ? 0 : length + STORED_ENTRY_BYTES + URL_COPIES_ON_DISK * key.length;
}

/** What `length` bytes of the original of `url` (or of its variant in `slot`) count against `max-size`. */
export function storedCost(url: string, slot: string | undefined, length: number): number {
  return onDisk(slot === undefined ? originalBytesKey(url) : variantBytesKey(url, slot), length);
}

/** What one eviction pass dropped (see `ImageStore.makeRoom`). */
interface Evicted {
  readonly originals: number;
  readonly variants: number;
  readonly bytes: number;
}

export interface StoredVariant {
  readonly record: VariantRecord;
  readonly bytes: Buffer;
}

/**
 * Stored bytes lent out for one use (a response), checked against their digest. Large bytes are a view of the
 * store's memory map (no copy, no allocation: a 50 MB body sent costs no memcpy and no garbage), valid only
 * until `release`, which must be called once the use is over (again: no effect). Such a view must never leave
 * the thread: a structured clone copies the whole mapped region behind it.
 */
export interface LentBytes {
  readonly bytes: Buffer;
  /** Whether `bytes` is a view of the map (valid until `release`) rather than memory of its own. */
  readonly inPlace: boolean;
  readonly release: () => void;
}

export interface LentVariant {
  readonly record: VariantRecord;
  readonly lent: LentBytes;
}

/** What the store tells its owner (for logs and metrics): it never throws a write failure at its callers. */
export interface StoreEvents {
  /** A write failed, or was not tried because writing is paused after a failure (`paused`). */
  readonly writeFailed?: (reason: StoreFailure, detail: { readonly message: string; readonly paused: boolean }) => void;
  /** A write succeeded again after failures. */
  readonly resumed?: () => void;
  /**
   * One eviction pass: how many originals went (with their variants), how many variants of their own entry went
   * alone (see `putVariant`), and the bytes freed.
   */
  readonly evicted?: (batch: { readonly originals: number; readonly variants: number; readonly bytes: number; readonly size: number }) => void;
  /** How many reads are lent now (each holds a read snapshot: LMDB reuses no page it sees), after every change. */
  readonly lent?: (count: number) => void;
  /**
   * Entries of a table left out as they were read, once per read of it: damaged (a value that does not decode or
   * is not what the table holds, a key of no shape the store writes), removed with the next write; or written
   * in an older layout (`older-layout`), removed at open.
   */
  readonly dropped?: (detail: { readonly table: string; readonly entries: number; readonly why: 'damaged' | 'older-layout' }) => void;
}

export interface StoreOptions {
  readonly events?: StoreEvents;
  /** After a failed write, further writes are not tried for this long (each refused one is reported). */
  readonly retryMs?: number;
}

/**
 * The LMDB store of SPEC §8: originals (records and bytes), variants in slots per original (each experiment's
 * outcome, shared by every mark; conversions; image-API transforms), experiment progress and request counts, and
 * beside them the savings history (`putSavings`). Bytes are stored by digest and checked against it before they are handed out, so
 * a crash at any moment can cost a variant, never serve a wrong one. Bounded by `maxBytes`: originals go, with
 * everything that belongs to them, in the segmented order below (probation first, then the least requested of
 * the least recent).
 */
/*
 * A full disk, an I/O error or a full map must cost the store its writes, never the proxy its life: every write
 * goes through `write()`, which reports a failure and pauses writing for `retryMs` (then tries again, so writing
 * resumes by itself when space returns). Inside transactions only `putSync`/`removeSync` are used: they return
 * no promise to be left unhandled. lmdb's event-turn batching is off for the same reason: its batches own a
 * promise nobody awaits, and a failed commit rejected it (that is how a full disk ended the process).
 */
export class ImageStore {
  private readonly root: RootDatabase;
  private readonly originals: Database<OriginalRecord, string>;
  private readonly variants: Database<VariantRecord, string>;
  private readonly progress: Database<ProgressRecord, string>;
  private readonly requests: Database<RequestRecord, string>;
  private readonly recency: Database<string, string>;
  private readonly bytes: Database<Buffer, string>;
  private readonly meta: Database<number, string>;
  /** The savings history (see `putSavings`): beside the images, outside their size and eviction. What it holds is checked as it is read. */
  private readonly savings: Database<unknown, Key>;
  /** Keys of savings history entries found damaged when it was read: removed with its next write. */
  private damagedSavings: Key[] = [];
  private readonly events: StoreEvents;
  private readonly retryMs: number;
  /** While set: writing failed, and is not tried again before this time (ms since the epoch). */
  private pausedUntil: number | undefined;
  private pauseReason: StoreFailure = 'other';
  /** Per original, when a variant or its progress was last written (see `outcomeGeneration`); dropped with them. */
  private readonly outcomeWrites = new Map<string, number>();
  private outcomeWriteCount = 0;
  /** Keys whose bytes were read and matched their digest: that digest and those bytes' fingerprint (see `lend`). */
  private readonly verified = new Map<string, { readonly digest: string; readonly print: string }>();
  /** Requests noted and not yet written, by original (see `noteRequest`). */
  private pendingRequests = new Map<string, { count: number; lastRequested: number }>();
  /** The batch of requests being written now, and its write. */
  private flushingRequests = new Map<string, { count: number; lastRequested: number }>();
  private flushing: Promise<void> | undefined;
  private requestFlush: NodeJS.Timeout | undefined;
  /**
   * Bytes being written ahead of their record (see `stage`): in the map but not yet in `size`. Room is made for
   * them before they are written, so that the map never holds more than `maxBytes` of counted and staged bytes.
   */
  private staging = 0;
  /** Bytes lent and not yet given back; `close` waits for them (the map goes with the store). */
  private lent = 0;
  private allReturned: (() => void) | undefined;

  constructor(
    private readonly path: string,
    readonly maxBytes: number,
    options: StoreOptions = {},
  ) {
    this.events = options.events ?? {};
    this.retryMs = options.retryMs ?? 5000;
    let root: RootDatabase | undefined;
    try {
      makeStoreDirectory(path);
      const free = freeBytesSync(path);
      if (free < NEARLY_FULL_BYTES) throw new StoreUnavailableError('disk-full', `only ${free} bytes free on the store's filesystem (it needs ${NEARLY_FULL_BYTES} to open)`);
      root = open({ path, compression: false, eventTurnBatching: false });
      this.root = root;
      // Records decoded once, then kept by lmdb (its cache follows our writes; a read in a given transaction, as
      // `lend`'s snapshot check, bypasses it): a final image's request read five of them, a third of its CPU in
      // msgpack decoding.
      this.originals = root.openDB({ name: 'originals', cache: true, ...UTF8_KEYS });
      this.variants = root.openDB({ name: 'variants', cache: true, ...UTF8_KEYS });
      this.progress = root.openDB({ name: 'progress', cache: true, ...UTF8_KEYS });
      this.requests = root.openDB({ name: 'requests', cache: true, ...UTF8_KEYS });
      this.recency = root.openDB({ name: 'recency', encoding: 'string', ...UTF8_KEYS });
      this.bytes = root.openDB({ name: 'bytes', encoding: 'binary', ...UTF8_KEYS });
      this.meta = root.openDB({ name: 'meta' });
      this.savings = root.openDB({ name: 'savings' });
      this.dropOlderLayout();
      this.removeOrphanBytes();
    } catch (err) {
      // A store half opened is closed again: the next attempt starts clean.
      root?.close().catch(() => undefined);
      if (err instanceof StoreUnavailableError) throw err;
      const { reason, message } = storeFailureOfSync(err, path);
      // Only what passes by itself (space, I/O) is waited out; anything else (a path that cannot be a store, no
      // permission) is a configuration error, for the operator to see at start.
      if (reason === 'other') throw err;
      throw new StoreUnavailableError(reason, message);
    }
  }

  /** A store of another layout (see `LAYOUT`) loses its images, in one transaction; its savings history stays. */
  private dropOlderLayout(): void {
    if (this.meta.get('layout') === LAYOUT) return;
    const originals = this.originals.getCount();
    this.root.transactionSync(() => {
      // Emptied whole, keys unread: an older layout's keys may not read back (see `keys.ts`).
      for (const table of [this.originals, this.variants, this.progress, this.requests, this.recency, this.bytes]) table.clearSync();
      for (const key of ['bytes', 'probation-bytes', ...OLD_LAYOUT_MARKS]) this.meta.removeSync(key);
      this.meta.putSync('layout', LAYOUT);
    });
    if (originals > 0) this.events.dropped?.({ table: 'originals', entries: originals, why: 'older-layout' });
  }

  /** Whether writes are being tried (false for a while after one failed: the disk may be full). */
  get writable(): boolean {
    return this.pausedUntil === undefined || Date.now() >= this.pausedUntil;
  }

  /**
   * Runs `body` in a write transaction. A failure (full disk, I/O error, full map) is reported, not thrown, and
   * pauses writing for `retryMs`; writes asked for meanwhile are refused (and reported) without touching LMDB.
   */
  private write<T>(body: () => T): Promise<{ ok: true; value: T } | { ok: false }> {
    return this.attempt(() => this.root.transaction(body));
  }

  /** One write to LMDB, its failure reported and writing paused (see `write`). */
  private async attempt<T>(run: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    if (!this.writable) {
      this.events.writeFailed?.(this.pauseReason, { message: 'writing paused after a failure', paused: true });
      return { ok: false };
    }
    try {
      const value = await run();
      if (this.pausedUntil !== undefined) {
        this.pausedUntil = undefined;
        this.events.resumed?.();
      }
      return { ok: true, value };
    } catch (err) {
      // The caches took the writes of the transaction that failed: what is committed is read again.
      for (const db of [this.originals, this.variants, this.progress, this.requests]) (db as unknown as { cache?: { clear(): void } }).cache?.clear();
      const failure = await storeFailureOf(err, this.path);
      this.pausedUntil = Date.now() + this.retryMs;
      this.pauseReason = failure.reason;
      this.events.writeFailed?.(failure.reason, { message: failure.message, paused: false });
      return { ok: false };
    }
  }

  /** Bytes held by originals on probation (and their variants). */
  private get probationBytes(): number {
    return this.meta.get('probation-bytes') ?? 0;
  }

  /** How many reads of bytes are lent and not given back yet (each holds a read snapshot). */
  get lentOut(): number {
    return this.lent;
  }

  /** Bytes held (originals and variants), as counted when they were stored. */
  get size(): number {
    return this.meta.get('bytes') ?? 0;
  }

  getOriginal(url: string): OriginalRecord | undefined {
    return this.originals.get(url);
  }

  /** A copy of the original's bytes, if they are whole (for work that outlives a response, or leaves the thread). */
  getOriginalBytes(record: OriginalRecord): Promise<Buffer | undefined> {
    return this.copied(this.lend(originalBytesKey(record.url), record.digest, this.originalDigestIn(record.url)));
  }

  /** The original's bytes, if they are whole, lent for one response (see `LentBytes`). */
  lendOriginalBytes(record: OriginalRecord): Promise<LentBytes | undefined> {
    return this.lend(originalBytesKey(record.url), record.digest, this.originalDigestIn(record.url));
  }

  /**
   * Keeps an original; false when it could not be written (the store reported why). A different digest than
   * before means the origin changed the image: its variants and progress are discarded with the old bytes (SPEC §8).
   */
  async putOriginal(record: OriginalRecord, bytes: Buffer): Promise<boolean> {
    if (!storableUrl(record.url)) return false;
    const key = originalBytesKey(record.url);
    const known = this.originals.get(record.url);
    const staged = known?.digest === record.digest ? undefined : await this.stage(key, bytes);
    if (staged === false) return false;
    const written = await this.write(() => {
      const previous = this.originals.get(record.url);
      // Every stored original has a place in the eviction order, even before its first counted request.
      if (!this.requests.doesExist(record.url)) this.enterProbation(record.url);
      if (previous && previous.digest !== record.digest) this.forgetDerived(record.url, previous, staged !== undefined);
      // What the key held, as counted, is what its record said (see `stage`).
      if (staged) {
        this.unstage(staged);
        this.accountBytes(key, previous?.size ?? 0, bytes.length, record.url);
      } else if (!previous || previous.digest !== record.digest) {
        this.putBytes(record.url, key, bytes);
      }
      this.originals.putSync(record.url, record);
      return this.makeRoom(record.url);
    }).finally(() => staged && this.unstage(staged));
    if (!written.ok) return false;
    // Its digest was just computed from these very bytes: their first read need not hash them again (the
    // fingerprint still ties that to the bytes read).
    if (bytes.length >= FINGERPRINTED_BYTES) this.remember(key, record.digest, bytes, record.digest);
    this.reportEvicted(written.value);
    return true;
  }

  /** Inside a transaction: a new entry of the eviction order (see `PROBATION_SHARE`), on probation, no request yet. */
  private enterProbation(entry: string): void {
    const now = Date.now();
    this.requests.putSync(entry, { count: 0, lastRequested: now, main: false, held: 0 });
    this.recency.putSync(recencyKey('p', now, entry), entry);
  }

  /** Updates validators or freshness without touching the bytes (a `304` from the origin). */
  async touchOriginal(record: OriginalRecord): Promise<boolean> {
    return (await this.write(() => this.originals.putSync(record.url, record))).ok;
  }

  /** The record kept in a slot of the current original, without reading its bytes. */
  getVariantRecord(url: string, slot: string): VariantRecord | undefined {
    const record = this.variants.get(slotKey(url, slot));
    if (!record) return undefined;
    const original = this.originals.get(url);
    return original && original.digest === record.originalDigest ? record : undefined;
  }

  async getVariant(url: string, slot: string): Promise<StoredVariant | undefined> {
    const record = this.getVariantRecord(url, slot);
    if (!record) return undefined;
    const bytes = await this.copied(this.lend(variantBytesKey(url, slot), record.digest, this.variantDigestIn(url, slot)));
    return bytes ? { record, bytes } : undefined;
  }

  /** The variant in a slot, its bytes lent for one response (see `LentBytes`). */
  async lendVariant(url: string, slot: string): Promise<LentVariant | undefined> {
    const record = this.getVariantRecord(url, slot);
    if (!record) return undefined;
    const lent = await this.lend(variantBytesKey(url, slot), record.digest, this.variantDigestIn(url, slot));
    return lent ? { record, lent } : undefined;
  }

  /**
   * Keeps a variant in a slot, replacing what it held (whose bytes go); false when it could not be written.
   * `ownEntry`: a variant made to the order of requests of its own (an image-API option set), which the original's
   * requests say nothing about: it enters the eviction order on its own, on probation, counted by
   * `noteVariantRequest` and evicted alone (or with its original). Otherwise it belongs to its original's entry.
   */
  async putVariant(url: string, slot: string, record: VariantRecord, bytes: Buffer, options: { readonly ownEntry?: boolean } = {}): Promise<boolean> {
    const bytesKey = variantBytesKey(url, slot);
    const staged = await this.stage(bytesKey, bytes);
    if (staged === false) return false;
    const written = await this.write(() => {
      const original = this.originals.get(url);
      if (!original || original.digest !== record.originalDigest) {
        // Its original changed or went meanwhile (with its variants): the staged bytes have no record.
        if (staged) this.bytes.removeSync(bytesKey);
        return { stored: false, evicted: this.makeRoom() };
      }
      const key = slotKey(url, slot);
      const previous = this.variants.get(key);
      const previousOwner = this.ownerOf(url, key);
      if (options.ownEntry && previousOwner === url) {
        // Kept before as its original's: those bytes go with that entry's count, the new ones with its own.
        if (previous && !staged) this.dropBytes(url, bytesKey, previous.size);
        this.enterProbation(key);
      }
      const owner = this.ownerOf(url, key);
      if (staged) {
        this.unstage(staged);
        this.accountBytes(bytesKey, previous?.size ?? 0, bytes.length, owner, previousOwner);
      } else {
        if (previous) this.dropBytes(owner, bytesKey, previous.size);
        this.putBytes(owner, bytesKey, bytes);
      }
      this.variants.putSync(key, record);
      return { stored: true, evicted: this.makeRoom(owner) };
    }).finally(() => staged && this.unstage(staged));
    if (!written.ok) return false;
    if (written.value.stored) this.outcomesChanged(url);
    this.reportEvicted(written.value.evicted);
    return true;
  }

  /** Whose entry of the eviction order holds the bytes of the variant under `key` (a slot key of `url`). */
  private ownerOf(url: string, key: string): string {
    return this.requests.doesExist(key) ? key : url;
  }

  /**
   * Changes whenever a variant or the progress of `url` is written by this process: what was chosen among its
   * outcomes before may not be the best any more (an outcome made for one mark may serve another), and a mark may
   * have become final. A new original, or none, changes its record instead.
   */
  outcomeGeneration(url: string): number {
    return this.outcomeWrites.get(url) ?? 0;
  }

  /** Only for an original the store has: one evicted while its experiment ran leaves no entry behind. */
  private outcomesChanged(url: string): void {
    if (this.originals.doesExist(url)) this.outcomeWrites.set(url, ++this.outcomeWriteCount);
  }

  getProgress(url: string): ProgressRecord | undefined {
    return this.progress.get(progressKey(url));
  }

  async putProgress(url: string, record: ProgressRecord): Promise<boolean> {
    const written = await this.write(() => this.progress.putSync(progressKey(url), record));
    if (written.ok) this.outcomesChanged(url);
    return written.ok;
  }

  /**
   * Changes an original's progress from what it is when the write runs (inside the write transaction): two
   * experiments of one image ending together each add their own, where reading first and writing later lost one.
   * `update` answering `undefined` writes nothing.
   */
  async updateProgress(url: string, update: (current: ProgressRecord | undefined) => ProgressRecord | undefined): Promise<boolean> {
    const key = progressKey(url);
    const written = await this.write(() => {
      const next = update(this.progress.get(key));
      if (next) this.progress.putSync(key, next);
      return next !== undefined;
    });
    if (written.ok && written.value) this.outcomesChanged(url);
    return written.ok;
  }

  getRequests(url: string): RequestRecord | undefined {
    return this.requests.get(url);
  }

  /**
   * Counts a request and moves the original to the recent end of its segment's order (a second request takes it
   * off probation), without waiting for a write: requests are written together within a second, at once for a
   * second request (the request path does not wait for a transaction per image). Returns the count with this one.
   */
  noteRequest(url: string, now = Date.now()): number {
    const pending = this.pendingRequests.get(url);
    if (pending) {
      pending.count += 1;
      pending.lastRequested = now;
    } else {
      this.pendingRequests.set(url, { count: 1, lastRequested: now });
    }
    const stored = this.requests.get(url);
    // Until a batch being written is committed, reads show the counts before it.
    const count = (stored?.count ?? 0) + (this.flushingRequests.get(url)?.count ?? 0) + (pending?.count ?? 1);
    // A second request takes an original off probation: written at once, or a flood of one-off URLs arriving
    // meanwhile could evict it as one of them.
    const promoted = stored?.main !== true && count >= 2;
    this.flushRequestsSoon(promoted || this.pendingRequests.size >= REQUEST_FLUSH_URLS ? 0 : REQUEST_FLUSH_MS);
    return count;
  }

  /**
   * Counts a request served a variant kept as an entry of its own (`putVariant`'s `ownEntry`), as `noteRequest`
   * does for an original: its second request takes it off probation. Nothing is counted for a variant not so kept.
   */
  noteVariantRequest(url: string, slot: string, now = Date.now()): number {
    return this.noteRequest(slotKey(url, slot), now);
  }

  /** Writes the requests noted so far (at once: before closing, or in tests). */
  async flushRequests(): Promise<void> {
    clearTimeout(this.requestFlush);
    this.requestFlush = undefined;
    // One batch at a time: the next waits for this one's commit (its counts are in `flushingRequests` till then).
    while (this.flushing) await this.flushing;
    if (this.pendingRequests.size === 0) return;
    const batch = this.pendingRequests;
    this.flushingRequests = batch;
    this.pendingRequests = new Map();
    // Not written (the store reported why): the counts are lost, as a cache's statistics may be.
    this.flushing = this.write(() => {
      // An entry evicted meanwhile is not brought back into the eviction order by its late requests.
      for (const [entry, { count, lastRequested }] of batch) if (this.isStored(entry)) this.addRequests(entry, count, lastRequested);
    }).then(
      () => undefined,
      // `write` reports its failures; whatever else went wrong, a later batch must not wait on this one for ever.
      () => undefined,
    );
    await this.flushing;
    this.flushingRequests = new Map();
    this.flushing = undefined;
  }

  private flushRequestsSoon(ms: number): void {
    if (this.requestFlush && ms > 0) return;
    clearTimeout(this.requestFlush);
    this.requestFlush = setTimeout(() => {
      this.flushRequests().catch(() => undefined);
    }, ms);
    this.requestFlush.unref();
  }

  /** Whether an entry of the eviction order is stored: an original, or a variant kept as an entry of its own. */
  private isStored(entry: string): boolean {
    return entryParts(entry).slot === undefined ? this.originals.doesExist(entry) : this.requests.doesExist(entry);
  }

  /** Inside a transaction: `count` more requests, the last at `now`; the entry moves to the recent end of its segment. */
  private addRequests(url: string, count: number, now: number): void {
    const previous = this.requests.get(url);
    if (previous) this.recency.removeSync(recencyKey(segmentOf(previous), previous.lastRequested, url));
    const record = withRequests(previous, count, now);
    if (record.main && previous && !previous.main) this.addProbationBytes(-record.held!);
    this.requests.putSync(url, record);
    this.recency.putSync(recencyKey(segmentOf(record), now, url), url);
  }

  /** The most requested originals, most first (for the status page). */
  mostRequested(limit: number): { url: string; requests: RequestRecord; original: OriginalRecord }[] {
    const all: { url: string; requests: RequestRecord; original: OriginalRecord }[] = [];
    for (const { key, value } of this.requests.getRange({})) {
      const original = this.originals.get(key);
      if (original) all.push({ url: key, requests: value, original });
    }
    return all.sort((a, b) => b.requests.count - a.requests.count).slice(0, limit);
  }

  /** Every variant kept for the current original (one range read: the hot path of a marked image). */
  variantsOf(url: string): { slot: string; record: VariantRecord }[] {
    const original = this.originals.get(url);
    if (!original) return [];
    const found: { slot: string; record: VariantRecord }[] = [];
    // Keys only from the range, the records from lmdb's cache (a range read decodes every record every time).
    for (const key of this.variants.getKeys(slotRange(url))) {
      const value = this.variants.get(key);
      if (value?.originalDigest === original.digest) found.push({ slot: slotOf(key, url), record: value });
    }
    return found;
  }

  /**
   * The savings history kept beside the images, each period's points oldest first. An entry that is not a point
   * (its value does not decode or is not one, its key is of no shape the store writes: see `savingsRecordOf`) is
   * left out, reported once (`dropped`) and removed with the next `putSavings`: one damaged entry must not stop the
   * start or fail the status page. Never throws.
   */
  savingsRecords(): SavingsRecord[] {
    const records: SavingsRecord[] = [];
    const damaged: Key[] = [];
    try {
      // Every key, not a range per period: whatever else the table holds is found, and goes.
      for (const key of this.savings.getKeys()) {
        const parts = savingsKeyParts(key);
        let record: SavingsRecord | undefined;
        try {
          record = parts && savingsRecordOf(parts.period, parts.at, this.savings.get(key));
        } catch {
          // A value that does not decode (msgpack's "Data read, but end of buffer not reached").
        }
        if (record) records.push(record);
        else damaged.push(key);
      }
    } catch {
      // The table itself cannot be read through: the history starts from what was read.
    }
    this.damagedSavings = damaged;
    if (damaged.length > 0) this.events.dropped?.({ table: 'savings', entries: damaged.length, why: 'damaged' });
    return SAVINGS_PERIODS.flatMap((period) => records.filter((record) => record.period === period).sort((a, b) => a.at - b.at));
  }

  /**
   * Writes points of the savings history and removes each period's points outside what `kept` says, with what was
   * found damaged, in one transaction; false when it could not be written (the store reported why). The history
   * bounds itself: it is not counted in `size` (which `max-size` bounds for images) and eviction never sees it.
   */
  async putSavings(points: readonly SavingsRecord[], kept: SavingsKept): Promise<boolean> {
    const damaged = this.damagedSavings;
    const written = await this.write(() => {
      // First, so that a point written below under the same key stays.
      for (const key of damaged) this.savings.removeSync(key);
      for (const period of SAVINGS_PERIODS) {
        // Keys collected first: nothing is removed under a running range read. Older than kept, then later.
        const outside = [
          ...this.savings.getKeys({ start: savingsKey(period, 0), end: savingsKey(period, kept[period].from) }),
          ...this.savings.getKeys({ start: savingsKey(period, kept[period].to + 1), end: `${period}\u0001` }),
        ];
        for (const key of outside) this.savings.removeSync(key);
      }
      for (const point of points) if (point.at >= kept[point.period].from && point.at <= kept[point.period].to) this.savings.putSync(savingsKey(point.period, point.at), point.byOutcome);
    });
    if (written.ok && this.damagedSavings === damaged) this.damagedSavings = [];
    return written.ok;
  }

  /** Every stored original (for the status page's counts). */
  *originalRecords(): Generator<OriginalRecord> {
    for (const { value } of this.originals.getRange({})) yield value;
  }

  /**
   * Closes the store once every view lent out is given back (or after `graceMs`: a response still holding one
   * then is cut by the process ending anyway), since closing unmaps what they point into.
   */
  async close(graceMs = 5000): Promise<void> {
    await this.flushRequests();
    if (this.lent > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.allReturned = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
    }
    await this.root.close();
  }

  /**
   * Stored bytes, only if they hash to the digest their record names: hashed whole on their first read by this
   * process (in slices, or off the event loop), then known by a fingerprint. The fingerprint ties what is
   * remembered to the bytes actually read, not to the key: a record read just before its bytes were replaced
   * (large bytes are written ahead of their record, see `stage`), or a check that finishes after a write, can
   * never lend its verdict to other bytes. LMDB never changes committed pages in place, so bytes that matched
   * once still match; what a crash or a restart could leave behind is hashed again after it. (Hashing a 40 MB body
   * on every request held the event loop for 60 ms each time.)
   *
   * Values under 16 MiB come in lmdb's one reusable buffer, which the next read overwrites: they are copied at once
   * (lmdb sets its `length` to the value's: only that much is the value). Larger ones are read in place, a view of
   * the map under a read transaction held until `release`: LMDB never reuses the pages a live transaction sees,
   * and lmdb keeps old mappings valid when the map grows. (Copying them cost 150–230 ms of event loop for 30–50 MB
   * in lmdb's own `get`, and as much again in garbage collection.)
   */
  private async lend(key: string, digest: string, recordDigestIn: (txn: Transaction) => string | undefined): Promise<LentBytes | undefined> {
    const txn = this.root.useReadTransaction();
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      txn.done();
      this.lent -= 1;
      this.events.lent?.(this.lent);
      if (this.lent === 0) this.allReturned?.();
    };
    this.lent += 1;
    this.events.lent?.(this.lent);
    try {
      const view = (this.bytes as unknown as InPlaceReads).getBinaryFast(key, { transaction: txn });
      if (!view) {
        release();
        return undefined;
      }
      if (view.isGlobal === true) {
        let copy: Buffer = Buffer.allocUnsafeSlow(view.length);
        copy.set(view.subarray(0, view.length));
        // Small bytes are written in their record's transaction: in one snapshot, the record's digest is theirs. Once
        // hashed by this process they are known by that (a write of the key forgets it); before, hashed whole.
        const snapshotDigest = copy.length < FINGERPRINTED_BYTES ? recordDigestIn(txn) : undefined;
        release();
        if (copy.length < FINGERPRINTED_BYTES) {
          if (snapshotDigest !== digest) return undefined;
          if (this.verified.get(key)?.digest === digest) return ownBytes(copy);
          return this.remember(key, digest, copy, sha256(copy)) ? ownBytes(copy) : undefined;
        }
        if (this.knownToMatch(key, digest, copy)) return ownBytes(copy);
        const checked = await digestOf(copy);
        copy = checked.bytes;
        return this.remember(key, digest, copy, checked.digest) ? ownBytes(copy) : undefined;
      }
      const bytes = Buffer.from(view.buffer, view.byteOffset, view.length);
      if (this.knownToMatch(key, digest, bytes) || this.remember(key, digest, bytes, await digestInSlices(bytes))) return { bytes, inPlace: true, release };
      release();
      return undefined;
    } catch (err) {
      release();
      throw err;
    }
  }

  private knownToMatch(key: string, digest: string, bytes: Buffer): boolean {
    const known = this.verified.get(key);
    return known?.digest === digest && known.print === fingerprint(bytes);
  }

  /**
   * Whether `found` (the digest of `bytes`) is `digest`; if so, remembered for `key`: large bytes by their
   * fingerprint, small ones by the snapshot check of `lend` alone.
   */
  private remember(key: string, digest: string, bytes: Buffer, found: string): boolean {
    if (found !== digest) return false;
    if (this.verified.size >= MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(key, { digest, print: bytes.length < FINGERPRINTED_BYTES ? '' : fingerprint(bytes) });
    return true;
  }

  /** The digest an original's record names, as a read transaction sees it. */
  private originalDigestIn(url: string): (txn: Transaction) => string | undefined {
    return (txn) => (this.originals.get(url, { transaction: txn }))?.digest;
  }

  /** The digest a variant's record names, as a read transaction sees it. */
  private variantDigestIn(url: string, slot: string): (txn: Transaction) => string | undefined {
    return (txn) => (this.variants.get(slotKey(url, slot), { transaction: txn }))?.digest;
  }

  /** Lent bytes as memory of their own (copied in slices when they were a view of the map), given back. */
  private async copied(lending: Promise<LentBytes | undefined>): Promise<Buffer | undefined> {
    const lent = await lending;
    if (!lent?.inPlace) return lent?.bytes;
    try {
      return await copyInSlices(lent.bytes);
    } finally {
      lent.release();
    }
  }

  /** The length of stored bytes, without copying them (inside a write transaction, or at once). */
  private storedLength(key: string): number {
    return (this.bytes as unknown as InPlaceReads).getBinaryFast(key)?.length ?? 0;
  }

  private putBytes(entry: string, key: string, bytes: Buffer): void {
    const previous = this.storedLength(key);
    this.bytes.putSync(key, bytes);
    this.accountBytes(key, previous, bytes.length, entry);
  }

  /**
   * Inside a transaction: `key` now holds `length` bytes, held by `entry`, where it held `previous`, held by
   * `previousEntry`.
   */
  private accountBytes(key: string, previousLength: number, newLength: number, entry: string, previousEntry = entry): void {
    this.verified.delete(key);
    const [previous, length] = [onDisk(key, previousLength), onDisk(key, newLength)];
    this.meta.putSync('bytes', Math.max(0, this.size - previous) + length);
    if (previousEntry === entry) {
      this.held(entry, length - previous);
    } else {
      this.held(previousEntry, -previous);
      this.held(entry, length);
    }
  }

  /**
   * Large bytes are written ahead of their record's transaction, by lmdb's write thread (an asynchronous put):
   * inside a transaction LMDB copies them into the map on the event loop, 30–40 ms for 40 MB. Until the record
   * follows, readers of the old record find bytes that do not match its digest (so none are sent); bytes a crash
   * leaves without a record are removed at the next start. What they replace is counted by the record that named
   * it, in the record's transaction: bytes a concurrent write left under the key were never counted (reading the key
   * here, two staged writes of one URL were both counted, for good). `undefined` for bytes small enough to go with
   * their transaction, `false` when they could not be written.
   */
  private async stage(key: string, bytes: Buffer): Promise<Staged | undefined | false> {
    if (bytes.length < STAGED_BYTES) return undefined;
    const staged: Staged = { length: onDisk(key, bytes.length), counted: false };
    // Room first (see `staging`): these bytes land before the transaction that counts them and evicts.
    this.staging += staged.length;
    const room = await this.write(() => this.makeRoom());
    if (room.ok) this.reportEvicted(room.value);
    this.verified.delete(key);
    const written = await this.attempt(() => this.bytes.put(key, bytes));
    if (written.ok) return staged;
    this.unstage(staged);
    return false;
  }

  /** Staged bytes now counted in `size` (inside their record's transaction), or given up. */
  private unstage(staged: Staged): void {
    if (staged.counted) return;
    staged.counted = true;
    this.staging -= staged.length;
  }

  /**
   * At open: bytes without a record (a crash between a staged write and its transaction) are removed, and so is
   * anything under a key of no shape the store writes (reported: see `dropped`).
   */
  private removeOrphanBytes(): void {
    let unknown = 0;
    const orphans = [...this.bytes.getKeys()].filter((key) => {
      const owner = bytesOwner(key);
      if (!owner) {
        unknown += 1;
        return true;
      }
      return owner.slot === undefined ? !this.originals.doesExist(owner.url) : !this.variants.doesExist(slotKey(owner.url, owner.slot));
    });
    if (unknown > 0) this.events.dropped?.({ table: 'bytes', entries: unknown, why: 'damaged' });
    if (orphans.length === 0) return;
    try {
      this.root.transactionSync(() => {
        for (const key of orphans) this.bytes.removeSync(key);
      });
    } catch {
      // A full disk at start: they wait for the next start.
    }
  }

  private dropBytes(entry: string, key: string, size: number): void {
    this.verified.delete(key);
    if (!this.bytes.doesExist(key)) return;
    this.bytes.removeSync(key);
    this.meta.putSync('bytes', Math.max(0, this.size - onDisk(key, size)));
    this.held(entry, -onDisk(key, size));
  }

  /** Inside a transaction: what an entry (an original with its variants, or a variant of its own) holds changed by `delta` bytes. */
  private held(entry: string, delta: number): void {
    if (delta === 0) return;
    const requests = this.requests.get(entry);
    if (!requests) return;
    this.requests.putSync(entry, { ...requests, held: Math.max(0, (requests.held ?? 0) + delta) });
    if (!requests.main) this.addProbationBytes(delta);
  }

  /** Inside a transaction: an entry leaves the eviction order (what it held is gone already). */
  private forgetEntry(entry: string): void {
    const requests = this.requests.get(entry);
    if (!requests) return;
    if (!requests.main) this.addProbationBytes(-(requests.held ?? 0));
    this.requests.removeSync(entry);
    this.recency.removeSync(recencyKey(segmentOf(requests), requests.lastRequested, entry));
  }

  private addProbationBytes(delta: number): void {
    this.meta.putSync('probation-bytes', Math.max(0, this.probationBytes + delta));
  }

  /** Inside a transaction: removes an original's variants and progress (and their bytes). */
  private forgetDerived(url: string, original: OriginalRecord, newBytesStaged = false): void {
    // Safe to forget: whatever relied on it also sees the original's record change.
    this.outcomeWrites.delete(url);
    if (!newBytesStaged) this.dropBytes(url, originalBytesKey(url), original.size);
    const range = slotRange(url);
    // Keys collected first: nothing is removed under a running range read.
    for (const { key, value } of [...this.variants.getRange(range)]) {
      const owner = this.ownerOf(url, key);
      this.dropBytes(owner, variantBytesKey(url, slotOf(key, url)), value.size);
      this.variants.removeSync(key);
      if (owner !== url) this.forgetEntry(owner);
    }
    for (const key of [...this.progress.getKeys(range)]) this.progress.removeSync(key);
  }

  /**
   * Whom a segment gives up, never `kept`: on probation the least recently requested; in the main segment the one
   * with the fewest requests, halved for every `MAIN_HALF_LIFE_MS` since its last, among its `MAIN_SAMPLE` least
   * and most recent (the oldest among equals), so that URLs requested just twice (a flood that passed probation)
   * go before an image requested all week, and images no one asked for in days before today's.
   */
  private victimIn(segment: Segment, kept?: string): { key: string; value: string } | undefined {
    if (segment === 'p') return [...this.recency.getRange({ ...segmentRange('p'), limit: 2 })].find((entry) => entry.value !== kept);
    // The most recent too, where entries promoted just now are: compared among the least recent alone, a flood of
    // URLs requested twice each took the popular images there one after the other (a hostile review).
    const range = segmentRange('m');
    const oldest = [...this.recency.getRange({ ...range, limit: MAIN_SAMPLE })];
    const newest = [...this.recency.getRange({ start: range.end, end: range.start, reverse: true, limit: MAIN_SAMPLE })];
    const candidates = [...new Map([...oldest, ...newest].map((entry) => [entry.key, entry])).values()].map((entry) => ({ entry, requests: this.requests.get(entry.value) }));
    // Ages from the latest request among them: the clock of the records, whatever the machine's says now.
    const latest = Math.max(...candidates.map(({ requests }) => requests?.lastRequested ?? 0));
    let victim: { key: string; value: string } | undefined;
    let lowest = Infinity;
    for (const { entry, requests } of candidates) {
      if (entry.value === kept) continue;
      const score = (requests?.count ?? 0) * 0.5 ** (Math.max(0, latest - (requests?.lastRequested ?? 0)) / MAIN_HALF_LIFE_MS);
      if (score < lowest) {
        lowest = score;
        victim = entry;
      }
    }
    return victim;
  }

  /**
   * Inside the transaction of every write that adds bytes: drops entries until the bytes counted, with those being
   * staged, are within the bound: on probation the least recently requested while probation holds more than its
   * share, else from the main segment (see `victimIn`), the entry `kept` (the one written) last. In the write's own
   * transaction, so that no committed state of the store is over its bound (evicting in a write of its own after it
   * left each write over the bound until then, and over it for good when that write failed).
   */
  private makeRoom(kept?: string): Evicted {
    const before = this.size;
    let originals = 0;
    let variants = 0;
    while (this.size + this.staging > this.maxBytes) {
      const first: Segment = this.probationBytes > this.maxBytes * PROBATION_SHARE ? 'p' : 'm';
      // One at a time, read before removing: nothing is removed under a running range read.
      const other: Segment = first === 'p' ? 'm' : 'p';
      // The entry being written goes last: a variant's write never evicts its own image while another can go.
      const victim = this.victimIn(first, kept) ?? this.victimIn(other, kept) ?? this.victimIn(first) ?? this.victimIn(other);
      if (!victim) break;
      const entry = victim.value;
      const { url, slot } = entryParts(entry);
      if (slot === undefined) {
        const original = this.originals.get(url);
        if (original) {
          this.forgetDerived(url, original);
          this.originals.removeSync(url);
          originals += 1;
        }
      } else {
        const variant = this.variants.get(entry);
        if (variant) {
          this.dropBytes(entry, variantBytesKey(url, slot), variant.size);
          this.variants.removeSync(entry);
          variants += 1;
        }
      }
      this.forgetEntry(entry);
      // Whatever the records said, the victim leaves the order: the loop always ends.
      this.recency.removeSync(victim.key);
    }
    return { originals, variants, bytes: Math.max(0, before - this.size) };
  }

  private reportEvicted(evicted: Evicted): void {
    if (evicted.originals + evicted.variants > 0) this.events.evicted?.({ ...evicted, size: this.size });
  }
}
