/** A rewritten document kept for the next visitor with the same mark, and the origin response it came from. */
export interface CachedDocument {
  /** The origin's response headers (raw list), to rebuild the client's from after a `304`. */
  readonly originHeaders: readonly string[];
  readonly statusMessage: string;
  /** The bytes sent to the client (content coding applied). */
  readonly body: Buffer;
  /** The origin's validators, for the conditional request that revalidates this entry. */
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

/**
 * Rewritten HTML and CSS by (URL, mark, …), least recently used first out, bounded in bytes. A repeat view then
 * costs a `304` from the origin and a copy from memory instead of a parse.
 */
export class DocumentCache {
  private readonly entries = new Map<string, CachedDocument>();
  private size = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.size;
  }

  get count(): number {
    return this.entries.size;
  }

  /** The largest document worth keeping: one page must not push out all the others. */
  get maxEntryBytes(): number {
    return Math.floor(this.maxBytes / 8);
  }

  get(key: string): CachedDocument | undefined {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, entry: CachedDocument): void {
    this.delete(key);
    const cost = costOf(key, entry);
    if (cost > this.maxEntryBytes) return;
    this.entries.set(key, entry);
    this.size += cost;
    for (const [oldest, old] of this.entries) {
      if (this.size <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.size -= costOf(oldest, old);
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.size -= costOf(key, entry);
  }
}

function costOf(key: string, entry: CachedDocument): number {
  return key.length + entry.body.length + entry.originHeaders.reduce((sum, h) => sum + h.length, 0);
}
