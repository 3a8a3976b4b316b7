import { collectDefaultMetrics, Counter, Gauge, Histogram, type LabelValues, Registry } from 'prom-client';

/** A count kept as a plain number until its counter is read (see `PendingCounts`). */
export interface PendingCount {
  count: number;
}

/**
 * Counts of a labelled counter kept as plain numbers and added to it when it is read (a scrape, the status page):
 * prom-client hashes the labels of every `inc`, a cost on every request for a figure read every few seconds.
 */
export class PendingCounts<L extends string> {
  private readonly known = new Map<string, { readonly labels: LabelValues<L>; readonly pending: PendingCount }>();

  /** The count of `labels`, found by `key`: a string naming them, a constant or made once by the caller. */
  of(key: string, labels: LabelValues<L>): PendingCount {
    let found = this.known.get(key);
    if (!found) this.known.set(key, (found = { labels, pending: { count: 0 } }));
    return found.pending;
  }

  /** Adds what was counted since the last read to `counter` (from its `collect`, run as it is read). */
  drainInto(counter: Counter<L>): void {
    for (const { labels, pending } of this.known.values()) {
      if (pending.count === 0) continue;
      counter.inc(labels, pending.count);
      pending.count = 0;
    }
  }
}

/**
 * The product's counters, one registry per running proxy (tests run several in one process). The admin
 * listener of a later issue exposes `registry`; everything that counts something gets it from here.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Counts of the busiest counters, added to them as they are read (see `PendingCounts`). */
  readonly pending: {
    readonly requests: PendingCounts<'route' | 'outcome'>;
    readonly imageResponses: PendingCounts<'outcome'>;
    /** Keyed by outcome, one per side: the request path finds its count by the outcome alone. */
    readonly imageBytes: { readonly original: PendingCounts<'side' | 'outcome'>; readonly sent: PendingCounts<'side' | 'outcome'> };
  };
  /** Requests answered on the public listener, by route and status class ("2xx", …, "aborted"). */
  readonly requests: Counter<'route' | 'outcome'>;
  /** Why the origin could not be used: refused, timeout, reset, … */
  readonly originFailures: Counter<'reason'>;
  /** Requests refused before reaching the origin: bad request target, CONNECT. */
  readonly refusedRequests: Counter<'reason'>;
  /** Image answers by what was sent: variant, original (no better one yet), skipped, passed through. */
  readonly imageResponses: Counter<'outcome'>;
  /** Image bytes by outcome: as the origin has them, and as sent (the saving is the difference). */
  readonly imageBytes: Counter<'side' | 'outcome'>;
  /** Image requests that waited for another request's fetch of the same original instead of fetching it again. */
  readonly sharedFetches: Counter;
  /** Experiments by kind and outcome (won, kept-original, rejected). */
  readonly experiments: Counter<'experiment' | 'outcome'>;
  /** Experiments waiting and running; bytes in the store: read from `sources` when scraped. */
  readonly queueLength: Gauge<'state'>;
  /** Transforms made to order (image API, scaling) waiting and running, and the most that ever waited at once. */
  readonly imageTransforms: Gauge<'state'>;
  readonly storeBytes: Gauge;
  /** Final image answers kept in memory for repeats (their bytes are part of `bufferedBytes`). */
  readonly keptAnswers: Gauge<'what'>;
  /** What the gauges read when scraped (set by whoever owns the queue and the store): no request pays for them. */
  readonly sources: GaugeSources;
  /** Reads of stored bytes lent to responses now (large bodies sent from the store's map hold a read snapshot). */
  readonly storeLentReads: Gauge;
  /** Originals dropped from the store to keep it within max-size, since start. */
  readonly storeEvictions: Counter;
  /** Time from request to the end of the response, by route. */
  readonly requestDuration: Histogram<'route'>;
  /** Body bytes sent to clients (all routes) and received from the origin (forwarded responses). */
  readonly clientBytes: Counter;
  readonly originBytes: Counter;
  /** How long experiments take, by kind. */
  readonly experimentDuration: Histogram<'experiment'>;
  /** Time between the turns of a 10 ms timer (see loop-delay.ts), cumulative. */
  readonly eventLoopDelay: Histogram;
  /** CPU of experiments, in their own processes (which `process_cpu_seconds_total` does not count). */
  readonly experimentCpu: Counter<'experiment'>;
  /** `<cluster>`: 1 while Redis is reachable, 0 in local-only mode (absent without a cluster). */
  readonly clusterConnected: Gauge;
  /**
   * `<cluster>`: variants adopted from or published to the cluster, experiments taken from or left to other
   * instances, published variants refused (bad digest) and leases lost.
   */
  readonly clusterEvents: Counter<'event'>;
  /** Store writes that failed or were not tried while writing was paused, by cause (`disk-full`, `io`, …). */
  readonly storeErrors: Counter<'reason'>;
  /** Bytes of image bodies held in memory now (`<limits max-buffered>`), and what did not fit under it. */
  readonly bufferedBytes: Gauge;
  readonly unbuffered: Counter<'what'>;
  /** Responses the proxy could not complete, by whose fault (`origin`, `store`, `client`, `encoder`, `proxy`). */
  readonly failures: Counter<'cause'>;
}

export interface GaugeSources {
  queue?: () => { readonly queued: number; readonly running: number };
  imageTransforms?: () => { readonly queued: number; readonly running: number; readonly peakQueued: number };
  storeBytes?: () => number;
  keptAnswers?: () => { readonly count: number; readonly bytes: number };
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const sources: GaugeSources = {};
  const pending = {
    requests: new PendingCounts<'route' | 'outcome'>(),
    imageResponses: new PendingCounts<'outcome'>(),
    imageBytes: { original: new PendingCounts<'side' | 'outcome'>(), sent: new PendingCounts<'side' | 'outcome'>() },
  };
  // Process metrics (CPU, memory, event-loop lag, GC) next to the product's own.
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    sources,
    pending,
    requests: new Counter({
      name: 'slimproxy_http_requests_total',
      help: 'Requests answered on the public listener, by route and outcome',
      labelNames: ['route', 'outcome'],
      registers: [registry],
      collect() {
        pending.requests.drainInto(this);
      },
    }),
    originFailures: new Counter({
      name: 'slimproxy_origin_failures_total',
      help: 'Origin requests that failed, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    refusedRequests: new Counter({
      name: 'slimproxy_refused_requests_total',
      help: 'Requests refused before reaching the origin, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    imageResponses: new Counter({
      name: 'slimproxy_image_responses_total',
      help: 'Image responses by what was sent',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        pending.imageResponses.drainInto(this);
      },
    }),
    sharedFetches: new Counter({
      name: 'slimproxy_image_shared_fetches_total',
      help: 'Image requests that shared a fetch of the same original already under way',
      registers: [registry],
    }),
    imageBytes: new Counter({
      name: 'slimproxy_image_bytes_total',
      help: 'Image bytes by outcome: original (as the origin has them) and sent',
      labelNames: ['side', 'outcome'],
      registers: [registry],
      collect() {
        pending.imageBytes.original.drainInto(this);
        pending.imageBytes.sent.drainInto(this);
      },
    }),
    experiments: new Counter({
      name: 'slimproxy_experiments_total',
      help: 'Experiments by kind and outcome',
      labelNames: ['experiment', 'outcome'],
      registers: [registry],
    }),
    queueLength: new Gauge({
      name: 'slimproxy_experiment_queue',
      help: 'Experiments waiting and running',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const queue = sources.queue?.();
        this.set({ state: 'waiting' }, queue?.queued ?? 0);
        this.set({ state: 'running' }, queue?.running ?? 0);
      },
    }),
    imageTransforms: new Gauge({
      name: 'slimproxy_image_transforms',
      help: 'Image-API and scaling transforms: waiting, running, and the most that ever waited at once (peak-waiting, at most <image-api max-queue>)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const transforms = sources.imageTransforms?.();
        this.set({ state: 'waiting' }, transforms?.queued ?? 0);
        this.set({ state: 'running' }, transforms?.running ?? 0);
        this.set({ state: 'peak-waiting' }, transforms?.peakQueued ?? 0);
      },
    }),
    clusterConnected: new Gauge({ name: 'slimproxy_cluster_connected', help: '1 while the cluster Redis is reachable, 0 in local-only mode', registers: [] }),
    clusterEvents: new Counter({ name: 'slimproxy_cluster_events_total', help: 'Cluster events: variants adopted, published or refused, experiments taken or left, leases lost', labelNames: ['event'], registers: [registry] }),
    storeBytes: new Gauge({
      name: 'slimproxy_store_bytes',
      help: 'Bytes of originals and variants in the store',
      registers: [registry],
      collect() {
        this.set(sources.storeBytes?.() ?? 0);
      },
    }),
    keptAnswers: new Gauge({
      name: 'slimproxy_kept_image_answers',
      help: 'Final image answers kept in memory for repeat requests: how many, and their bytes (part of slimproxy_buffered_bytes)',
      labelNames: ['what'],
      registers: [registry],
      collect() {
        const kept = sources.keptAnswers?.();
        this.set({ what: 'answers' }, kept?.count ?? 0);
        this.set({ what: 'bytes' }, kept?.bytes ?? 0);
      },
    }),
    storeLentReads: new Gauge({ name: 'slimproxy_store_lent_reads', help: 'Stored bodies being sent from the store (each holds a read snapshot until its response is flushed or closed)', registers: [registry] }),
    storeEvictions: new Counter({ name: 'slimproxy_store_evicted_originals', help: 'Originals evicted from the store since start', registers: [registry] }),
    requestDuration: new Histogram({
      name: 'slimproxy_request_duration_seconds',
      help: 'Time from request to the end of the response, by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    clientBytes: new Counter({ name: 'slimproxy_client_bytes_total', help: 'Body bytes sent to clients', registers: [registry] }),
    originBytes: new Counter({ name: 'slimproxy_origin_bytes_total', help: 'Body bytes received from the origin', registers: [registry] }),
    storeErrors: new Counter({ name: 'slimproxy_store_errors_total', help: 'Store writes that failed or were refused while writing was paused, by reason', labelNames: ['reason'], registers: [registry] }),
    bufferedBytes: new Gauge({ name: 'slimproxy_buffered_bytes', help: 'Bytes of image bodies held in memory (fetched originals, stored bodies being sent)', registers: [registry] }),
    unbuffered: new Counter({ name: 'slimproxy_unbuffered_total', help: 'Image bodies streamed through unbuffered and unstored: over max-buffered, or too large to keep', labelNames: ['what'], registers: [registry] }),
    failures: new Counter({ name: 'slimproxy_failures_total', help: 'Responses that failed, by cause: origin, store, client, encoder, proxy', labelNames: ['cause'], registers: [registry] }),
    experimentCpu: new Counter({ name: 'slimproxy_experiment_cpu_seconds_total', help: 'CPU seconds experiments took in their processes (all threads), by kind; process_cpu_seconds_total counts only the proxy', labelNames: ['experiment'], registers: [registry] }),
    eventLoopDelay: new Histogram({
      name: 'slimproxy_event_loop_delay_seconds',
      help: 'Time between the turns of a 10 ms timer: 0.01 on an idle loop, more when a turn holds it (cumulative, unlike nodejs_eventloop_lag_*)',
      buckets: [0.011, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    experimentDuration: new Histogram({
      name: 'slimproxy_experiment_duration_seconds',
      help: 'Experiment run time, by kind',
      labelNames: ['experiment'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}
