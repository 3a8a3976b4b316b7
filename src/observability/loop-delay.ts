import type { Histogram } from 'prom-client';

/** How often the loop is sampled: Node's `monitorEventLoopDelay` default, so the figures compare. */
const RESOLUTION_MS = 10;

/**
 * Feeds `histogram` with the time between the turns of a 10 ms timer (about 0.01 s on an idle loop, more when a
 * turn holds the loop), as Node's `monitorEventLoopDelay` measures it. Unlike prom-client's
 * `nodejs_eventloop_lag_p99_seconds`, which is reset by every scrape (a second scraper or a test steals its
 * samples), a histogram is cumulative: the p99 over any window comes from two scrapes. Returns the stop.
 */
export function sampleEventLoopDelay(histogram: Histogram): () => void {
  let last = process.hrtime.bigint();
  const timer = setInterval(() => {
    const now = process.hrtime.bigint();
    histogram.observe(Number(now - last) / 1e9);
    last = now;
  }, RESOLUTION_MS);
  timer.unref();
  return () => clearInterval(timer);
}
