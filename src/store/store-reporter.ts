import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { StoreEvents } from './image-store.js';

/**
 * What the store's events become for an operator: every failed write counted by reason; one log line a minute at
 * most while writing fails (a full disk fails every write, and a line per request would bury everything else);
 * a line when writing works again, and one per eviction pass.
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
    evicted({ originals, bytes, size }) {
      metrics.storeEvictions.inc(originals);
      logger.info({ evictedOriginals: originals, freedBytes: bytes, storeBytes: size }, 'store: evicted the least useful originals to stay within max-size');
    },
  };
}
