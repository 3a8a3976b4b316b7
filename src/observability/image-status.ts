import { capabilitiesOfMark } from '../marks/index.js';
import type { EngineSettings } from '../images/experiment.js';
import { planForFacts } from '../images/plan.js';
import type { ImageStore } from '../store/image-store.js';
import type { OriginalRecord } from '../store/records.js';

export type ImageState = 'waiting' | 'in progress' | 'final' | 'skipped';

export interface TopImage {
  readonly url: string;
  readonly requests: number;
  readonly state: ImageState;
  readonly originalBytes: number;
  readonly type: string;
  /** The smallest variant over the marks seen, if any. */
  readonly best?: { readonly mark: string; readonly experiment: string; readonly format: string; readonly quality?: number; readonly dssim: number; readonly bytes: number };
}

export interface ImagesByState {
  readonly states: Readonly<Record<ImageState, number>>;
  readonly skipReasons: Readonly<Record<string, number>>;
  readonly top: readonly TopImage[];
}

/** Where an original stands: final when every experiment of some mark's plan has run. */
function stateOf(store: ImageStore, original: OriginalRecord, settings: EngineSettings): ImageState {
  if (original.skip || !original.facts) return 'skipped';
  const facts = original.facts;
  const marks = store.marksOf(original.url);
  if (marks.length === 0) return 'waiting';
  for (const { mark, progress } of marks) {
    const capabilities = capabilitiesOfMark(mark);
    if (!capabilities || progress?.originalDigest !== original.digest) continue;
    const plan = planForFacts(facts, capabilities, settings);
    if (plan.every((name) => progress.done.includes(name))) return 'final';
  }
  return 'in progress';
}

/** SPEC §8's status: images by state (skip reasons counted) and the most requested with their best version. */
export function imagesByState(store: ImageStore, settings: EngineSettings, limit = 20): ImagesByState {
  const states: Record<ImageState, number> = { waiting: 0, 'in progress': 0, final: 0, skipped: 0 };
  const skipReasons: Record<string, number> = {};
  for (const original of store.originalRecords()) {
    const state = stateOf(store, original, settings);
    states[state] += 1;
    if (original.skip) {
      const reason = original.skip.replace(/:.*$/, '');
      skipReasons[reason] = (skipReasons[reason] ?? 0) + 1;
    }
  }
  const top = store.mostRequested(limit).map(({ url, requests, original }): TopImage => {
    const variants = store.marksOf(url).flatMap(({ mark, variant }) => (variant && variant.originalDigest === original.digest ? [{ mark, variant }] : []));
    const smallest = variants.sort((a, b) => a.variant.size - b.variant.size)[0];
    return {
      url,
      requests: requests.count,
      state: stateOf(store, original, settings),
      originalBytes: original.size,
      type: original.facts?.type ?? original.contentType,
      ...(smallest
        ? {
            best: {
              mark: smallest.mark,
              experiment: smallest.variant.experiment,
              format: smallest.variant.format,
              ...(smallest.variant.quality === undefined ? {} : { quality: smallest.variant.quality }),
              dssim: smallest.variant.dssim,
              bytes: smallest.variant.size,
            },
          }
        : {}),
    };
  });
  return { states, skipReasons, top };
}
