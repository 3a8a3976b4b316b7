import { KEPT_ENTRY_OVERHEAD, ownCopy } from '../memory/kept-bytes.js';

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
  /**
   * The request headers the origin's `Vary` named (lower-case): the entry is only for requests with the same
   * values of these as the one it was made for (RFC 9111 §4.1).
   */
  readonly vary?: readonly string[];
}

/** Request headers as Node gives them (lower-case names). */
export type RequestHeaderValues = Readonly<Record<string, string | string[] | undefined>>;

interface Kept {
  readonly key: string;
  readonly variant: string;
  readonly entry: CachedDocument;
}

/** What the request headers named by `vary` hold, as one string (absent and empty told apart). */
function variantOf(vary: readonly string[], request: RequestHeaderValues): string {
  return vary
    .map((name) => {
      const value = request[name];
      return value === undefined ? `${name}!` : `${name}=${Array.isArray(value) ? value.join(', ') : value}`;
    })
    .join('\n');
}

/**
 * Rewritten HTML and CSS by (URL, mark, …) and by the values of the request headers the origin's `Vary` names,
 * least recently used first out, bounded in bytes. A repeat view then costs a `304` from the origin and a copy
 * from memory instead of a parse.
 *
 * Like a shared HTTP cache, it remembers per key which headers the last kept response varied by, and looks up
 * the variant of a request by their values: a page the origin varies by `User-Agent` is never served to another
 * browser that happens to get the same mark.
 */
export class DocumentCache {
  /** By key and variant; the map's order is the LRU order. */
  private readonly entries = new Map<string, Kept>();
  /** Per key: the headers its kept variants vary by, and how many variants there are. */
  private readonly varyByKey = new Map<string, { vary: readonly string[]; variants: number }>();
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

  get(key: string, request: RequestHeaderValues = {}): CachedDocument | undefined {
    const vary = this.varyByKey.get(key)?.vary;
    if (!vary) return undefined;
    const id = `${key}\0${variantOf(vary, request)}`;
    const kept = this.entries.get(id);
    if (!kept) return undefined;
    this.entries.delete(id);
    this.entries.set(id, kept);
    return kept.entry;
  }

  /** Keeps `entry` for requests like `request` (by the headers `entry.vary` names). */
  set(key: string, entry: CachedDocument, request: RequestHeaderValues = {}): void {
    const vary = entry.vary ?? [];
    const known = this.varyByKey.get(key);
    // The origin now varies by other headers: the variants kept under the old ones can no longer be told apart.
    if (known && known.vary.join('\n') !== vary.join('\n')) this.deleteKey(key);
    const variant = variantOf(vary, request);
    const id = `${key}\0${variant}`;
    this.remove(id);
    const cost = costOf(key, variant, entry);
    if (cost > this.maxEntryBytes) return;
    this.entries.set(id, { key, variant, entry: { ...entry, body: ownCopy(entry.body) } });
    const variants = this.varyByKey.get(key);
    this.varyByKey.set(key, { vary, variants: (variants?.variants ?? 0) + 1 });
    this.size += cost;
    for (const oldest of this.entries.keys()) {
      if (this.size <= this.maxBytes) break;
      this.remove(oldest);
    }
  }

  /** Forgets the variant for requests like `request`. */
  delete(key: string, request: RequestHeaderValues = {}): void {
    const vary = this.varyByKey.get(key)?.vary;
    if (vary) this.remove(`${key}\0${variantOf(vary, request)}`);
  }

  private deleteKey(key: string): void {
    for (const [id, kept] of this.entries) if (kept.key === key) this.remove(id);
  }

  private remove(id: string): void {
    const kept = this.entries.get(id);
    if (!kept) return;
    this.entries.delete(id);
    this.size -= costOf(kept.key, kept.variant, kept.entry);
    const variants = this.varyByKey.get(kept.key);
    if (!variants) return;
    if (variants.variants <= 1) this.varyByKey.delete(kept.key);
    else this.varyByKey.set(kept.key, { vary: variants.vary, variants: variants.variants - 1 });
  }
}

/** An entry's memory as counted: the body, its strings (two bytes a character at most) and the entry itself. */
function costOf(key: string, variant: string, entry: CachedDocument): number {
  return KEPT_ENTRY_OVERHEAD + entry.body.length + 2 * (key.length + variant.length + entry.originHeaders.reduce((sum, h) => sum + h.length, 0));
}
