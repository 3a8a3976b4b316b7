import type { Experiment, ExperimentName } from '../experiment.js';
import { animationOptions, fromPixels, measureAgainst, type Original } from '../original.js';
import { predictFor } from '../quality-model.js';
import { lossyVariant } from '../quality-search.js';

/**
 * libwebp's method (sharp's effort) for lossy WebP, by measured cost and benefit (quality searched under d = 0.002
 * at each method, demo images): on opaque images method 6 gives 2–6% fewer bytes than 4 at 1.5–2× its time, a
 * fraction of a second per megapixel; with an alpha plane it costs 20–80× more (3.2 s against 0.04 s per encode on
 * a 0.05 MP logo, 4.2 s against 0.17 s on a 0.3 MP icon: libwebp then tries every alpha filter at its slowest
 * lossless setting) for 6–13%, where method 5 keeps 1–4% of that at under 2× method 4's time.
 */
export const webpEffort = (transparent: boolean) => (transparent ? 5 : 6);

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
        encode: (quality) => encodeWebp(original, quality),
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

/** Lossy WebP of the original at a quality, as the experiments encode it (frames and delays kept). */
export function encodeWebp(original: Original, quality: number): Promise<Buffer> {
  return fromPixels(original, { opaque: !original.transparent })
    .webp({ quality, effort: webpEffort(original.transparent), smartSubsample: true, ...animationOptions(original) })
    .toBuffer();
}

export const webp = webpExperiment('webp');
export const webpReencode = webpExperiment('webp-reencode');
/** Animated GIF → animated WebP: every frame compared, the worst one counts. */
export const webpAnimated = webpExperiment('webp-animated');
