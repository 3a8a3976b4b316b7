import type { ImagesByState } from './image-status.js';
import type { Metrics } from './metrics.js';

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
  /** Bytes saved over time: [ms since the epoch, bytes] pairs, oldest first. */
  readonly savedHistory: readonly (readonly [number, number])[];
  /** `<cluster>`: whether Redis is reachable (false: local-only mode). Absent without a cluster. */
  readonly cluster?: { readonly connected: boolean };
}

export type StatusSource = () => Promise<StatusSnapshot>;

const startedAt = Date.now();

/** The snapshot from the counters: one source of truth for the page, the API and /metrics. */
/** One point every 30 s, at most 24 h of them, taken when the status is asked for (the page asks every 10 s). */
const SAMPLE_EVERY_MS = 30_000;
const MAX_SAMPLES = 2880;

export function statusFromMetrics(metrics: Metrics, images?: () => ImagesByState | undefined): StatusSource {
  const history: [number, number][] = [];
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
    const now = Date.now();
    const last = history.at(-1);
    if (!last || now - last[0] >= SAMPLE_EVERY_MS) history.push([now, original - sent]);
    else last[1] = original - sent;
    if (history.length > MAX_SAMPLES) history.shift();
    const store = images?.();
    return {
      generatedAt: new Date().toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      images: { responses, bytesOriginal: original, bytesSent: sent, bytesSaved: original - sent },
      experiments,
      queue: { waiting: queue.waiting ?? 0, running: queue.running ?? 0 },
      storeBytes: (await metrics.storeBytes.get()).values[0]?.value ?? 0,
      requests,
      ...(store ? { store } : {}),
      savedHistory: history.map(([time, saved]) => [time, saved] as const),
      ...(metrics.registry.getSingleMetric('slimproxy_cluster_connected') ? { cluster: { connected: (await metrics.clusterConnected.get()).values[0]?.value === 1 } } : {}),
    };
  };
}
