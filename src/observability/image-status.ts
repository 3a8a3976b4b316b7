import { settingsDigest } from '../images/settings.js';
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
  /** The smallest outcome kept (the best of the marks that allow its format), and its slot in the store. */
  readonly best?: { readonly variant: string; readonly experiment: string; readonly format: string; readonly quality?: number; readonly dssim: number; readonly bytes: number };
}

export interface ImagesByState {
  readonly states: Readonly<Record<ImageState, number>>;
  readonly skipReasons: Readonly<Record<string, number>>;
  readonly top: readonly TopImage[];
}

/** Where an original stands: final when every experiment of the plan of some mark that asked for it has run. */
function stateOf(store: ImageStore, original: OriginalRecord, settings: EngineSettings, settingsKey: string): ImageState {
  if (original.skip || !original.facts) return 'skipped';
  const facts = original.facts;
  const progress = store.getProgress(original.url);
  if (!progress || progress.originalDigest !== original.digest || progress.settings !== settingsKey || progress.done.length === 0) return 'waiting';
  for (const mark of progress.marks ?? []) {
    const capabilities = capabilitiesOfMark(mark);
    if (capabilities && planForFacts(facts, capabilities, settings).every((name) => progress.done.includes(name))) return 'final';
  }
  return 'in progress';
}

/** SPEC §8's status: images by state (skip reasons counted) and the most requested with their best version. */
export function imagesByState(store: ImageStore, settings: EngineSettings, limit = 20): ImagesByState {
  const settingsKey = settingsDigest(settings);
  const states: Record<ImageState, number> = { waiting: 0, 'in progress': 0, final: 0, skipped: 0 };
  const skipReasons: Record<string, number> = {};
  for (const original of store.originalRecords()) {
    const state = stateOf(store, original, settings, settingsKey);
    states[state] += 1;
    if (original.skip) {
      const reason = original.skip.replace(/:.*$/, '');
      skipReasons[reason] = (skipReasons[reason] ?? 0) + 1;
    }
  }
  const top = store.mostRequested(limit).map(({ url, requests, original }): TopImage => {
    const smallest = store
      .variantsOf(url)
      .filter(({ record }) => record.settings === settingsKey)
      .sort((a, b) => a.record.size - b.record.size)[0];
    return {
      url,
      requests: requests.count,
      state: stateOf(store, original, settings, settingsKey),
      originalBytes: original.size,
      type: original.facts?.type ?? original.contentType,
      ...(smallest
        ? {
            best: {
              variant: smallest.slot,
              experiment: smallest.record.experiment,
              format: smallest.record.format,
              ...(smallest.record.quality === undefined ? {} : { quality: smallest.record.quality }),
              dssim: smallest.record.dssim,
              bytes: smallest.record.size,
            },
          }
        : {}),
    };
  });
  return { states, skipReasons, top };
}
