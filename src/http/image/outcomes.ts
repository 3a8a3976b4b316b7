import type { Capabilities } from '../../client/index.js';
import type { ExperimentName, KnownSizes } from '../../images/experiment.js';
import { EXPERIMENTS } from '../../images/plan.js';
import type { ImageStore } from '../../store/image-store.js';
import type { OriginalRecord, VariantRecord } from '../../store/records.js';
import { allowedByMark } from '../mark-promise.js';

/** The slot of a conversion for marks that allow none of the original's format (see `decodableVariant`). */
export const CONVERTED_SLOT = 'converted';

/** Marks a progress record names at most: browsers of a few generations, crawlers. */
const MARKS_KEPT = 8;

/** A kept variant and the slot it is in. */
export interface KeptOutcome {
  readonly slot: string;
  readonly record: VariantRecord;
}

/**
 * What the store holds of an original's experiments under one engine settings digest: the outcomes (each
 * experiment's, reused by every mark that allows its format) and which experiments are done.
 */
export class Outcomes {
  constructor(
    private readonly store: ImageStore,
    /** Outcomes are reused only under the settings they were made with: their digest. */
    readonly settingsKey: string,
  ) {}

  /** Whether a kept variant is an outcome some mark may be served: an experiment's (of these settings) or a conversion. */
  isOutcome(slot: string, variant: VariantRecord): boolean {
    return variant.settings === this.settingsKey && (slot === CONVERTED_SLOT || (slot === variant.experiment && slot !== 'transform' && Object.hasOwn(EXPERIMENTS, slot)));
  }

  /**
   * Step 4, the mark's best (SPEC §6): the smallest outcome kept whose format the mark allows. Where the mark
   * allows the original, only an outcome smaller than it (a conversion made for another mark may not be).
   */
  bestFor(key: string, record: OriginalRecord, capabilities: Capabilities, originalAllowed: boolean): KeptOutcome | undefined {
    let best: KeptOutcome | undefined;
    for (const kept of this.store.variantsOf(key)) {
      if (!this.isOutcome(kept.slot, kept.record) || !allowedByMark(kept.record.contentType, capabilities, true)) continue;
      if (originalAllowed && kept.record.size >= record.size) continue;
      if (!best || kept.record.size < best.record.size) best = kept;
    }
    return best;
  }

  /**
   * What the original's experiments came to, as far as the store shows (see `KnownSizes`): the outcomes kept. One
   * that is done but not kept (not smaller than the original, or evicted since) is left unknown: it cannot be
   * told which, and an experiment that does not know runs.
   */
  knownFor(key: string): KnownSizes {
    const known: Partial<Record<ExperimentName, number>> = {};
    for (const { slot, record: variant } of this.store.variantsOf(key)) {
      if (this.isOutcome(slot, variant) && slot !== CONVERTED_SLOT) known[slot as ExperimentName] = variant.size;
    }
    return known;
  }

  /** Experiments done on the original (under these settings), as this instance knows them. */
  doneFor(key: string, record: OriginalRecord): readonly string[] {
    const progress = this.store.getProgress(key);
    return progress?.originalDigest === record.digest && progress.settings === this.settingsKey ? progress.done : [];
  }

  /**
   * Adds experiments done (and the mark that asked, a few of them kept) to the original's progress as it is when
   * written; nothing is written once the original has changed (its new version's progress is not this one's).
   */
  addProgress(key: string, record: OriginalRecord, done: readonly string[], mark?: string): Promise<boolean> {
    return this.store.updateProgress(key, (progress) => {
      if (this.store.getOriginal(key)?.digest !== record.digest) return undefined;
      const same = progress?.originalDigest === record.digest && progress.settings === this.settingsKey;
      const marks = same ? (progress.marks ?? []) : [];
      const withMark = mark === undefined || marks.includes(mark) ? marks : [...marks, mark].slice(-MARKS_KEPT);
      return { originalDigest: record.digest, settings: this.settingsKey, done: [...new Set([...(same ? progress.done : []), ...done])], marks: withMark };
    });
  }
}
