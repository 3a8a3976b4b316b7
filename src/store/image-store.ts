import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { type Database, open, type RootDatabase } from 'lmdb';
import type { OriginalRecord, ProgressRecord, RequestRecord, VariantRecord } from './records.js';

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Keys of (original, mark): the URL, a separator no URL contains, the mark. */
const markKey = (url: string, mark: string) => `${url}\u0000${mark}`;
const markPrefix = (url: string) => `${url}\u0000`;
/** Where bytes live: per original and per (original, mark), never shared, so dropping one never hurts another. */
const originalBytesKey = (url: string) => `o\u0000${url}`;
const variantBytesKey = (url: string, mark: string) => `v\u0000${url}\u0000${mark}`;
/**
 * The two segments of the eviction order (a segmented LRU, as S3-FIFO and W-TinyLFU keep new entries apart): an
 * original enters on probation and moves to the main segment on its second request. Probation is evicted first
 * while it holds more than `PROBATION_SHARE` of the bound, so a flood of one-off URLs only ever evicts itself.
 */
type Segment = 'p' | 'm';
const PROBATION_SHARE = 0.1;
/** How many of the main segment's least recent originals eviction compares by request count. */
const MAIN_SAMPLE = 32;
const segmentOf = (requests: RequestRecord | undefined): Segment => (requests?.main ? 'm' : 'p');
/** Recency index key: the segment, then zero-padded time, so a range read gives a segment's least recent first. */
const recencyKey = (segment: Segment, time: number, url: string) => `${segment}\u0000${String(time).padStart(15, '0')}\u0000${url}`;
const segmentRange = (segment: Segment) => ({ start: `${segment}\u0000`, end: `${segment}\u0001` });

export interface StoredVariant {
  readonly record: VariantRecord;
  readonly bytes: Buffer;
}

/**
 * The LMDB store of SPEC §8: originals (records and bytes), the best variant per (original, mark), experiment
 * progress and request counts. Bytes are stored by digest and checked against it before they are handed out, so
 * a crash at any moment can cost a variant, never serve a wrong one. Bounded by `maxBytes`: originals go, with
 * everything that belongs to them, in the segmented order below (probation first, then the least requested of
 * the least recent).
 */
/*
 * Writes inside `transaction()` callbacks run at once as part of the transaction; their promises only report the
 * commit, which the awaited transaction reports too. Hence the `void`s below.
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
  /** Originals evicted since this store was opened. */
  evictions = 0;

  constructor(
    path: string,
    readonly maxBytes: number,
  ) {
    mkdirSync(path, { recursive: true });
    this.root = open({ path, compression: false });
    this.originals = this.root.openDB({ name: 'originals' });
    this.variants = this.root.openDB({ name: 'variants' });
    this.progress = this.root.openDB({ name: 'progress' });
    this.requests = this.root.openDB({ name: 'requests' });
    this.recency = this.root.openDB({ name: 'recency', encoding: 'string' });
    this.bytes = this.root.openDB({ name: 'bytes', encoding: 'binary' });
    this.meta = this.root.openDB({ name: 'meta' });
    this.upgradeRecency();
  }

  /** Stores written before the segments had one recency order keyed by time alone: all of it goes on probation. */
  private upgradeRecency(): void {
    if (this.meta.get('recency-version') === 2) return;
    this.root.transactionSync(() => {
      for (const { key, value: url } of [...this.recency.getRange({ start: '0', end: ':' })]) {
        void this.recency.remove(key);
        const requests = this.requests.get(url);
        if (requests) void this.recency.put(recencyKey('p', requests.lastRequested, url), url);
      }
      void this.meta.put('recency-version', 2);
    });
  }

  /** Bytes held by originals on probation (and their variants). */
  private get probationBytes(): number {
    return this.meta.get('probation-bytes') ?? 0;
  }

  /** Bytes held (originals and variants), as counted when they were stored. */
  get size(): number {
    return this.meta.get('bytes') ?? 0;
  }

  getOriginal(url: string): OriginalRecord | undefined {
    return this.originals.get(url);
  }

  /** The original's bytes, if they are whole. */
  getOriginalBytes(record: OriginalRecord): Buffer | undefined {
    return this.checkedBytes(originalBytesKey(record.url), record.digest);
  }

  /**
   * Keeps an original. A different digest than before means the origin changed the image: its variants and
   * progress are discarded with the old bytes (SPEC §8).
   */
  async putOriginal(record: OriginalRecord, bytes: Buffer): Promise<void> {
    if (sha256(bytes) !== record.digest) throw new Error(`digest mismatch for ${record.url}`);
    await this.root.transaction(() => {
      const previous = this.originals.get(record.url);
      // Every stored original has a place in the eviction order, even before its first counted request.
      if (!this.requests.doesExist(record.url)) {
        const now = Date.now();
        void this.requests.put(record.url, { count: 0, lastRequested: now, main: false, held: 0 });
        void this.recency.put(recencyKey('p', now, record.url), record.url);
      }
      if (previous && previous.digest !== record.digest) this.forgetDerived(record.url, previous);
      if (!previous || previous.digest !== record.digest) this.putBytes(record.url, originalBytesKey(record.url), bytes);
      void this.originals.put(record.url, record);
    });
    await this.evict();
  }

  /** Updates validators or freshness without touching the bytes (a `304` from the origin). */
  async touchOriginal(record: OriginalRecord): Promise<void> {
    await this.originals.put(record.url, record);
  }

  getVariant(url: string, mark: string): StoredVariant | undefined {
    const record = this.variants.get(markKey(url, mark));
    if (!record) return undefined;
    const original = this.originals.get(url);
    if (!original || original.digest !== record.originalDigest) return undefined;
    const bytes = this.checkedBytes(variantBytesKey(url, mark), record.digest);
    return bytes ? { record, bytes } : undefined;
  }

  /** Keeps a new best variant, replacing the previous one (whose bytes go). */
  async putVariant(url: string, mark: string, record: VariantRecord, bytes: Buffer): Promise<void> {
    if (sha256(bytes) !== record.digest) throw new Error(`variant digest mismatch for ${url}`);
    await this.root.transaction(() => {
      const original = this.originals.get(url);
      if (!original || original.digest !== record.originalDigest) return;
      const key = markKey(url, mark);
      const previous = this.variants.get(key);
      if (previous) this.dropBytes(url, variantBytesKey(url, mark), previous.size);
      this.putBytes(url, variantBytesKey(url, mark), bytes);
      void this.variants.put(key, record);
    });
    await this.evict();
  }

  getProgress(url: string, mark: string): ProgressRecord | undefined {
    return this.progress.get(markKey(url, mark));
  }

  async putProgress(url: string, mark: string, record: ProgressRecord): Promise<void> {
    await this.progress.put(markKey(url, mark), record);
  }

  getRequests(url: string): RequestRecord | undefined {
    return this.requests.get(url);
  }

  /**
   * Counts a request and moves the original to the recent end of its segment's order; a second request takes it
   * off probation.
   */
  async countRequest(url: string, now = Date.now()): Promise<RequestRecord> {
    const record = await this.root.transaction(() => {
      const previous = this.requests.get(url);
      if (previous) void this.recency.remove(recencyKey(segmentOf(previous), previous.lastRequested, url));
      const count = (previous?.count ?? 0) + 1;
      const held = previous?.held ?? 0;
      const main = previous?.main === true || count >= 2;
      if (main && previous && !previous.main) this.addProbationBytes(-held);
      const next: RequestRecord = { count, lastRequested: now, main, held };
      void this.requests.put(url, next);
      void this.recency.put(recencyKey(segmentOf(next), now, url), url);
      return next;
    });
    return record;
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

  /** Every mark's best variant and progress for an original. */
  marksOf(url: string): { mark: string; variant: VariantRecord | undefined; progress: ProgressRecord | undefined }[] {
    const marks = new Set<string>();
    const range = { start: markPrefix(url), end: `${url}\u0001` };
    for (const key of this.variants.getKeys(range)) marks.add(key.slice(markPrefix(url).length));
    for (const key of this.progress.getKeys(range)) marks.add(key.slice(markPrefix(url).length));
    return [...marks].map((mark) => ({ mark, variant: this.variants.get(markKey(url, mark)), progress: this.progress.get(markKey(url, mark)) }));
  }

  /** Every stored original (for the status page's counts). */
  *originalRecords(): Generator<OriginalRecord> {
    for (const { value } of this.originals.getRange({})) yield value;
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  /** Stored bytes, only if they still hash to the digest their record names. */
  private checkedBytes(key: string, digest: string): Buffer | undefined {
    const bytes = this.bytes.get(key);
    if (!bytes || sha256(bytes) !== digest) return undefined;
    return Buffer.from(bytes);
  }

  private putBytes(url: string, key: string, bytes: Buffer): void {
    const previous = this.bytes.get(key);
    void this.bytes.put(key, bytes);
    void this.meta.put('bytes', Math.max(0, this.size - (previous?.length ?? 0)) + bytes.length);
    this.held(url, bytes.length - (previous?.length ?? 0));
  }

  private dropBytes(url: string, key: string, size: number): void {
    if (!this.bytes.doesExist(key)) return;
    void this.bytes.remove(key);
    void this.meta.put('bytes', Math.max(0, this.size - size));
    this.held(url, -size);
  }

  /** Inside a transaction: what an original (with its variants) holds changed by `delta` bytes. */
  private held(url: string, delta: number): void {
    const requests = this.requests.get(url);
    if (!requests) return;
    void this.requests.put(url, { ...requests, held: Math.max(0, (requests.held ?? 0) + delta) });
    if (!requests.main) this.addProbationBytes(delta);
  }

  private addProbationBytes(delta: number): void {
    void this.meta.put('probation-bytes', Math.max(0, this.probationBytes + delta));
  }

  /** Inside a transaction: removes an original's variants and progress (and their bytes). */
  private forgetDerived(url: string, original: OriginalRecord): void {
    this.dropBytes(url, originalBytesKey(url), original.size);
    const range = { start: markPrefix(url), end: `${url}\u0001` };
    // Keys collected first: nothing is removed under a running range read.
    for (const { key, value } of [...this.variants.getRange(range)]) {
      const mark = key.slice(markPrefix(url).length);
      this.dropBytes(url, variantBytesKey(url, mark), value.size);
      void this.variants.remove(key);
    }
    for (const key of [...this.progress.getKeys(range)]) void this.progress.remove(key);
  }

  /**
   * Whom a segment gives up: on probation the least recently requested; in the main segment the least requested
   * of its `MAIN_SAMPLE` least recent (the oldest among equals), so that URLs requested just twice (a flood that
   * passed probation) go before an image requested all day.
   */
  private victimIn(segment: Segment): { key: string; value: string } | undefined {
    if (segment === 'p') return [...this.recency.getRange({ ...segmentRange('p'), limit: 1 })][0];
    let victim: { key: string; value: string } | undefined;
    let fewest = Infinity;
    for (const entry of [...this.recency.getRange({ ...segmentRange('m'), limit: MAIN_SAMPLE })]) {
      const count = this.requests.get(entry.value)?.count ?? 0;
      if (count < fewest) {
        fewest = count;
        victim = entry;
      }
    }
    return victim;
  }

  /**
   * Drops originals (with everything that belongs to them) until the store is within its bound: the least
   * recently requested on probation while probation holds more than its share, else the least recently requested
   * of the main segment.
   */
  private async evict(): Promise<void> {
    if (this.size <= this.maxBytes) return;
    await this.root.transaction(() => {
      while (this.size > this.maxBytes) {
        const first: Segment = this.probationBytes > this.maxBytes * PROBATION_SHARE ? 'p' : 'm';
        // One at a time, read before removing: nothing is removed under a running range read.
        const victim = this.victimIn(first) ?? this.victimIn(first === 'p' ? 'm' : 'p');
        if (!victim) break;
        const url = victim.value;
        const original = this.originals.get(url);
        if (original) {
          this.forgetDerived(url, original);
          void this.originals.remove(url);
          this.evictions += 1;
        }
        const requests = this.requests.get(url);
        if (requests && !requests.main) this.addProbationBytes(-(requests.held ?? 0));
        void this.requests.remove(url);
        void this.recency.remove(victim.key);
      }
    });
  }
}
