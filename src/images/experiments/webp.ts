import type { Experiment, ExperimentName } from '../experiment.js';
import { fromPixels, measureAgainst } from '../original.js';
import { lossyVariant } from '../quality-search.js';

/** WebP lossy (SPEC §1: the configured quality, or the DSSIM search with `aiqa="all"`); also re-encoding WebP. */
function webpExperiment(name: ExperimentName): Experiment {
  return {
    name,
    run(original, settings) {
      const startedAt = performance.now();
      const animated = original.facts.frames > 1;
      return lossyVariant(settings, {
        experiment: name,
        format: 'webp',
        encode: (quality) =>
          fromPixels(original, { opaque: !original.transparent })
            .webp({ quality, effort: 6, smartSubsample: true, ...(animated ? { loop: 0 } : {}) })
            .toBuffer(),
        measure: (bytes) => measureAgainst(original, bytes),
        search: settings.aiqaAll,
        startedAt,
      });
    },
  };
}

export const webp = webpExperiment('webp');
export const webpReencode = webpExperiment('webp-reencode');
/** Animated GIF → animated WebP: every frame compared (the frames stand one under the other). */
export const webpAnimated = webpExperiment('webp-animated');
