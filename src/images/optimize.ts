import type { Capabilities } from '../client/index.js';
import { type EngineSettings, type ExperimentName, type ExperimentOutcome, type KnownSizes, type Variant, wireSize } from './experiment.js';
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
  return (await optimizeForMarks(original, [mark], settings))[0]!;
}

/**
 * The same for several marks at once, as the proxy shares outcomes between them (SPEC §6: an outcome belongs to the
 * image): each experiment any of their plans has runs once, and each mark gets the smallest of its plan's.
 */
export async function optimizeForMarks(original: Original, marks: readonly Capabilities[], settings: EngineSettings): Promise<Optimized[]> {
  const input = { type: original.facts.type, frames: original.facts.frames, transparent: original.transparent };
  const plans = marks.map((mark) => planFor(input, mark, settings));
  const outcomes = new Map<ExperimentName, ExperimentOutcome>();
  const known: Partial<Record<ExperimentName, number>> = {};
  for (const name of new Set(plans.flat())) {
    const outcome = await runExperiment(name, original, settings, known);
    outcomes.set(name, outcome);
    if (outcome.ok) known[name] = wireSize(outcome.variant);
  }
  return plans.map((plan) => {
    let best: Variant | undefined;
    let bestSize = original.bytes.length;
    const records = plan.map((name): ExperimentRecord => {
      const outcome = outcomes.get(name)!;
      const won = outcome.ok && wireSize(outcome.variant) < bestSize;
      if (won && outcome.ok) {
        best = outcome.variant;
        bestSize = wireSize(outcome.variant);
      }
      return { experiment: name, outcome, won };
    });
    return { best, records };
  });
}

async function runExperiment(name: ExperimentName, original: Original, settings: EngineSettings, known: KnownSizes): Promise<ExperimentOutcome> {
  try {
    return await EXPERIMENTS[name].run(original, settings, known);
  } catch (err) {
    return { ok: false, reason: `failed: ${(err as Error).message}`, encodes: 0, ms: 0 };
  }
}
