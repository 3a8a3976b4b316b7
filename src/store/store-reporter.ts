import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { StoreEvents } from './image-store.js';

/**
 * What the store's events become for an operator: every failed write counted by reason; one log line a minute at
 * most while writing fails (a full disk fails every write, and a line per request would bury everything else);
 * a line when writing works again, one per eviction pass, and one per table read with entries left out of it.
 */
export function reportStoreEvents(logger: Logger, metrics: Metrics, everyMs = 60_000): StoreEvents {
  let lastLine = -Infinity;
  let unreported = 0;
  return {
    writeFailed(reason, { message }) {
      metrics.storeErrors.inc({ reason });
      unreported += 1;
      const now = Date.now();
      if (now - lastLine < everyMs) return;
      logger.error(
        { cause: 'store', reason, error: message, failedWrites: unreported },
        'store: cannot write: originals pass through unstored, stored variants are still served; writing is retried by itself',
      );
      lastLine = now;
      unreported = 0;
    },
    resumed() {
      logger.warn({ cause: 'store', failedWrites: unreported }, 'store: writing works again');
      lastLine = -Infinity;
      unreported = 0;
    },
    lent(count) {
      metrics.storeLentReads.set(count);
    },
    dropped({ table, entries, why }) {
      if (why === 'older-layout') logger.warn({ cause: 'store', table, entries }, 'store: written by an older version: its images were dropped (the store is a cache: they are fetched and optimised again; the savings history stays)');
      else logger.warn({ cause: 'store', table, entries }, 'store: damaged entries left out');
    },
    evicted({ originals, variants, bytes, size }) {
      if (originals > 0) metrics.storeEvictions.inc(originals);
      logger.info({ evictedOriginals: originals, evictedVariants: variants, freedBytes: bytes, storeBytes: size }, 'store: evicted the least useful originals to stay within max-size');
    },
  };
}
