import { Counter, Registry } from 'prom-client';

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
}

export function createMetrics(): Metrics {
  const registry = new Registry();
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
  };
}
