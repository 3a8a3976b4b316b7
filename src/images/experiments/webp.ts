import type { Experiment, ExperimentName } from '../experiment.js';
import { animationOptions, fromPixels, measureAgainst } from '../original.js';
import { predictFor } from '../quality-model.js';
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
            .webp({ quality, effort: 6, smartSubsample: true, ...animationOptions(original) })
            .toBuffer(),
        measure: (bytes) => measureAgainst(original, bytes),
        // An animation gets the search too: GIF frames at the fixed quality rarely all stay under d, and the
        // worst frame decides (SPEC §1 names the fixed quality for still WebP).
        search: settings.aiqaAll || animated,
        predict: () => predictFor(original, 'webp', settings.d),
        startedAt,
      });
    },
  };
}

export const webp = webpExperiment('webp');
export const webpReencode = webpExperiment('webp-reencode');
/** Animated GIF → animated WebP: every frame compared, the worst one counts. */
export const webpAnimated = webpExperiment('webp-animated');
