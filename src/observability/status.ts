import type { ImagesByState } from './image-status.js';
import type { Metrics } from './metrics.js';
import type { SavingsHistoryView } from './savings-history.js';

/** What `/api/status` reports and `/status` shows. */
export interface StatusSnapshot {
  readonly generatedAt: string;
  readonly uptimeSeconds: number;
  readonly images: {
    readonly responses: Readonly<Record<string, number>>;
    readonly bytesOriginal: number;
    readonly bytesSent: number;
    readonly bytesSaved: number;
  };
  readonly experiments: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly queue: { readonly waiting: number; readonly running: number };
  readonly storeBytes: number;
  readonly requests: Readonly<Record<string, number>>;
  /** Present when images are compressed. */
  readonly store?: ImagesByState;
  /** Image bytes by outcome per minute (48 h) and per hour (30 days), kept in the store. Present with a store. */
  readonly savings?: SavingsHistoryView;
  /** `<cluster>`: whether Redis is reachable (false: local-only mode). Absent without a cluster. */
  readonly cluster?: { readonly connected: boolean };
}

export type StatusSource = () => Promise<StatusSnapshot>;

const startedAt = Date.now();

/** The snapshot from the counters (one source of truth for the page, the API and /metrics) and the store's history. */
export function statusFromMetrics(metrics: Metrics, images?: () => ImagesByState | undefined, savings?: () => SavingsHistoryView | undefined): StatusSource {
  return async () => {
    const sum = (values: { value: number; labels: Record<string, string | number | undefined> }[], label: string) => {
      const out: Record<string, number> = {};
      for (const v of values) out[String(v.labels[label])] = (out[String(v.labels[label])] ?? 0) + v.value;
      return out;
    };
    const responses = sum((await metrics.imageResponses.get()).values, 'outcome');
    const bytes = sum((await metrics.imageBytes.get()).values, 'side');
    const experiments: Record<string, Record<string, number>> = {};
    for (const v of (await metrics.experiments.get()).values) {
      const name = String(v.labels.experiment);
      experiments[name] = { ...experiments[name], [String(v.labels.outcome)]: v.value };
    }
    const queue = sum((await metrics.queueLength.get()).values, 'state');
    const requests: Record<string, number> = {};
    for (const v of (await metrics.requests.get()).values) requests[`${v.labels.route} ${v.labels.outcome}`] = v.value;
    const original = bytes.original ?? 0;
    const sent = bytes.sent ?? 0;
    const store = images?.();
    const history = savings?.();
    return {
      generatedAt: new Date().toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      images: { responses, bytesOriginal: original, bytesSent: sent, bytesSaved: original - sent },
      experiments,
      queue: { waiting: queue.waiting ?? 0, running: queue.running ?? 0 },
      storeBytes: (await metrics.storeBytes.get()).values[0]?.value ?? 0,
      requests,
      ...(store ? { store } : {}),
      ...(history ? { savings: history } : {}),
      ...(metrics.registry.getSingleMetric('slimproxy_cluster_connected') ? { cluster: { connected: (await metrics.clusterConnected.get()).values[0]?.value === 1 } } : {}),
    };
  };
}
