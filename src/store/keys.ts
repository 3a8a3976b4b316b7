import type { SavingsPeriod } from './records.js';

/*
 * How the store spells its keys, in one place.
 *
 * The image tables' keys are strings written as their UTF-8 bytes and read back as strings (`utf8Keys`), whatever
 * they hold. lmdb's default key encoding (ordered-binary) does not give back what it was given: it escapes the
 * characters U+0000–U+0004 only in strings under 64 characters; a longer string is written as bare UTF-8, and a
 * read takes those bytes for the separators of an array key. So `url\0slot` came back as `[url, slot]` once it
 * had 64 bytes (an image URL of about 62 characters, every image-API slot): its variants were never found, and a
 * store holding one could not be opened again (hostile review 19). As plain UTF-8 a key has one reading, and byte
 * order is code-point order: a range from `prefix\0` to `prefix\u0001` is every key that starts with `prefix\0`.
 * (A lone surrogate, which no URL from HTTP holds, is written as U+FFFD.)
 *
 * Parts are joined by U+0000, which no part holds: slots are experiment names and canonical options (JSON escapes
 * control characters), and the store takes no URL holding one (`storableUrl`).
 */

/** The key encoding of the image tables (lmdb's `keyEncoder`): a string as its UTF-8 bytes, always read as a string. */
export const utf8Keys = {
  writeKey(key: string | Uint8Array, target: Uint8Array, start: number): number {
    // The tables are keyed by strings only. Anything else is lmdb's own key where an iteration with no start begins,
    // a byte 5 (past ordered-binary's symbols, which these tables do not have): here it begins at the lowest key.
    if (typeof key !== 'string') {
      target[start] = 0;
      return start + 1;
    }
    const end = start + asBuffer(target).write(key, start, 'utf8');
    // A character takes up to 4 bytes: a write that reached the last 3 may have been cut. lmdb takes a RangeError
    // for "retry with a larger buffer" (and refuses a key over its maximum size itself).
    if (end > target.length - 4) throw new RangeError('the key does not fit in the buffer');
    return end;
  },
  readKey(source: Uint8Array, start: number, end: number): string {
    return asBuffer(source).toString('utf8', start, end);
  },
};

/** The image tables' key encoding as lmdb's `openDB` takes it (its type declares `keyEncoder` for the root only). */
export const UTF8_KEYS = { keyEncoder: utf8Keys };

/** lmdb's key buffers are Node Buffers; a plain Uint8Array is viewed as one (no copy). */
const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** Whether the store can key an original by `url`: never one holding the separator (HTTP parsers refuse it anyway). */
export const storableUrl = (url: string): boolean => !url.includes('\u0000');

/** Keys of (original, slot): the URL, the separator, the slot (see `VariantRecord`). */
export const slotKey = (url: string, slot: string) => `${url}\u0000${slot}`;
/** Every key of an original's slots (and its progress record). */
export const slotRange = (url: string) => ({ start: `${url}\u0000`, end: `${url}\u0001` });
/** The slot of a key in `slotRange(url)`. */
export const slotOf = (key: string, url: string) => key.slice(url.length + 1);
/** An original's progress record: one per original, in the range of its slots. */
export const progressKey = (url: string) => slotKey(url, '');

/** Where bytes live: per original and per (original, slot), never shared, so dropping one never hurts another. */
export const originalBytesKey = (url: string) => `o\u0000${url}`;
export const variantBytesKey = (url: string, slot: string) => `v\u0000${url}\u0000${slot}`;

/** Whose bytes a key of the bytes table holds; `undefined` for a key no version of the store writes. */
export function bytesOwner(key: unknown): { readonly url: string; readonly slot?: string } | undefined {
  if (typeof key !== 'string') return undefined;
  if (key.startsWith('o\u0000')) return { url: key.slice(2) };
  // The slot is after the last separator: slots never hold one.
  const last = key.lastIndexOf('\u0000');
  if (!key.startsWith('v\u0000') || last < 2) return undefined;
  return { url: key.slice(2, last), slot: key.slice(last + 1) };
}

/**
 * What an entry of the eviction order names (the value of its recency key, the key of its request record): an
 * original by its URL, or a variant kept as an entry of its own by its slot key (see `ImageStore.putVariant`). A URL
 * never holds the separator (`storableUrl`), so a key that does is a variant's.
 */
export function entryParts(entry: string): { readonly url: string; readonly slot?: string } {
  const at = entry.indexOf('\u0000');
  return at < 0 ? { url: entry } : { url: entry.slice(0, at), slot: entry.slice(at + 1) };
}

/**
 * The two segments of the eviction order (see `ImageStore`): probation ('p') and main ('m'). Recency index key:
 * the segment, then zero-padded time, then the URL, so a range read gives a segment's least recent first.
 */
export type Segment = 'p' | 'm';
export const recencyKey = (segment: Segment, time: number, url: string) => `${segment}\u0000${String(time).padStart(15, '0')}\u0000${url}`;
export const segmentRange = (segment: Segment) => ({ start: `${segment}\u0000`, end: `${segment}\u0001` });

/*
 * The savings history keeps lmdb's default key encoding: its keys are short strings of one shape (a period's name
 * and 15 digits, 22 characters at most), which ordered-binary escapes and reads back as written. Whatever else a
 * damaged table holds is found by `savingsKeyParts`.
 */

/** Savings history key: the period, then zero-padded time, so a range read gives a period's oldest first. */
export const savingsKey = (period: SavingsPeriod, at: number) => `${period}\u0000${String(at).padStart(15, '0')}`;

/** The period and time a savings history key names; `undefined` for anything else (a damaged or foreign key). */
export function savingsKeyParts(key: unknown): { readonly period: SavingsPeriod; readonly at: number } | undefined {
  if (typeof key !== 'string') return undefined;
  const [period, digits = '', ...more] = key.split('\u0000');
  if ((period !== 'minute' && period !== 'hour') || !/^\d{15}$/.test(digits) || more.length > 0) return undefined;
  return { period, at: Number(digits) };
}
