/** One sample of a metric in Prometheus' text format. */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of metric `name` in a /metrics text, each with its labels. */
export function metricSamples(text: string, name: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const labels = Object.fromEntries([...(match[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((label) => [label[1]!, label[2]!]));
    samples.push({ labels, value: Number(match[2]) });
  }
  return samples;
}

/** Metric `name` summed over all its label sets (0 when absent). */
export function metricSum(text: string, name: string): number {
  return metricSamples(text, name).reduce((sum, sample) => sum + sample.value, 0);
}
