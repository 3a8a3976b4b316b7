import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/**
 * The product's counters, one registry per running proxy (tests run several in one process). The admin
 * listener of a later issue exposes `registry`; everything that counts something gets it from here.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Requests answered on the public listener, by route and status class ("2xx", …, "aborted"). */
  readonly requests: Counter<'route' | 'outcome'>;
  /** Why the origin could not be used: refused, timeout, reset, … */
  readonly originFailures: Counter<'reason'>;
  /** Requests refused before reaching the origin: bad request target, CONNECT. */
  readonly refusedRequests: Counter<'reason'>;
  /** Image answers by what was sent: variant, original (no better one yet), skipped, passed through. */
  readonly imageResponses: Counter<'outcome'>;
  /** Image bytes: as the origin has them, and as sent (the saving is the difference). */
  readonly imageBytes: Counter<'side'>;
  /** Experiments by kind and outcome (won, kept-original, rejected). */
  readonly experiments: Counter<'experiment' | 'outcome'>;
  /** Experiments waiting and running; bytes in the store. Set by whoever owns them. */
  readonly queueLength: Gauge<'state'>;
  readonly storeBytes: Gauge;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Process metrics (CPU, memory, event-loop lag, GC) next to the product's own.
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'slimproxy_http_requests_total',
      help: 'Requests answered on the public listener, by route and outcome',
      labelNames: ['route', 'outcome'],
      registers: [registry],
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
    }),
    imageBytes: new Counter({
      name: 'slimproxy_image_bytes_total',
      help: 'Image bytes: original (as the origin has them) and sent',
      labelNames: ['side'],
      registers: [registry],
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
    }),
    storeBytes: new Gauge({ name: 'slimproxy_store_bytes', help: 'Bytes of originals and variants in the store', registers: [registry] }),
  };
}
