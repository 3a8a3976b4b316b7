import type { Capabilities } from '../client/index.js';
import { type EngineSettings, type ExperimentName, type ExperimentOutcome, type Variant, wireSize } from './experiment.js';
import type { Original } from './original.js';
import { EXPERIMENTS, planFor } from './plan.js';

export interface ExperimentRecord {
  readonly experiment: ExperimentName;
  readonly outcome: ExperimentOutcome;
  /** Whether its variant became the best so far. */
  readonly won: boolean;
}

export interface Optimized {
  /** The smallest acceptable variant, or `undefined` when the original stays the best. */
  readonly best: Variant | undefined;
  readonly records: readonly ExperimentRecord[];
}

/**
 * Runs the whole plan for one mark, in order, keeping the smallest acceptable result (SPEC §6: the original is
 * always a candidate, so the answer is never bigger than it). The proxy runs the same experiments one per
 * request; this runs them all, for the command line and tests.
 */
export async function optimizeAll(original: Original, mark: Capabilities, settings: EngineSettings): Promise<Optimized> {
  const plan = planFor({ type: original.facts.type, frames: original.facts.frames, transparent: original.transparent }, mark, settings);
  let best: Variant | undefined;
  let bestSize = original.bytes.length;
  const records: ExperimentRecord[] = [];
  for (const name of plan) {
    let outcome: ExperimentOutcome;
    try {
      outcome = await EXPERIMENTS[name].run(original, settings);
    } catch (err) {
      outcome = { ok: false, reason: `failed: ${(err as Error).message}`, encodes: 0, ms: 0 };
    }
    const won = outcome.ok && wireSize(outcome.variant) < bestSize;
    if (won && outcome.ok) {
      best = outcome.variant;
      bestSize = wireSize(outcome.variant);
    }
    records.push({ experiment: name, outcome, won });
  }
  return { best, records };
}
