/**
 * What an entry of an in-memory cache takes beyond its body and its strings (its objects, the map's slot): a
 * generous bound, counted against the cache's size so that many small entries cannot hold far more than it.
 */
export const KEPT_ENTRY_OVERHEAD = 1024;

/**
 * A copy of `bytes` in memory of its own: a small Buffer made by `Buffer.from` or `Buffer.concat` is a view of
 * Node's shared 8 KB pool and keeps a whole slab alive while it is kept (a cache of 1.8 KB pages held four times
 * its size), and a view of the store's map must not outlive its read transaction.
 */
export function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}
