import type { Experiment, ExperimentName } from '../experiment.js';
import { animationOptions, fromPixels, measureAgainst, type Original } from '../original.js';
import { predictFor } from '../quality-model.js';
import { curveFor, lossyVariant, type TypicalCurves } from '../quality-search.js';

/**
 * libwebp's method (sharp's effort) for lossy WebP, by measured cost and benefit (quality searched under d = 0.002
 * at each method, demo images): method 6 gives 2–6% fewer bytes than 4 on opaque images at 1.5–2× its time; with
 * an alpha plane it costs 20–80× more (3.2 s against 0.04 s per encode on a 0.05 MP logo: libwebp then tries
 * every alpha filter at its slowest lossless setting) for 6–13%, and method 5 keeps 1–4% at 2× method 4's time.
 * Method 4 everywhere: in the whole plan lossy WebP is rarely the smallest where AVIF is allowed (1 of 9 demo
 * images), and at 4 the plan's CPU per megapixel fell by a sixth (9.8 → 8.0 s with the palette's effort below)
 * for 0.1% of the bytes (73.90 → 73.79% saved); marks with WebP and not AVIF pay the 2–6%.
 */
export const WEBP_EFFORT = 4;

/**
 * libwebp's DSSIM at quality 71 (s = 58) and the slope, measured on the demo images: photos 0.0019–0.0030,
 * graphics 0.0002–0.0017, slope 0.8–1.2.
 */
const WEBP_CURVES: TypicalCurves = {
  photo: { point: { scale: 58, dssim: 0.0025 }, slope: 1.0 },
  graphic: { point: { scale: 58, dssim: 0.0005 }, slope: 1.0 },
};

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
        measure: (bytes, above) => measureAgainst(original, bytes, above),
        // An animation gets the search too: GIF frames at the fixed quality rarely all stay under d, and the
        // worst frame decides (SPEC §1 names the fixed quality for still WebP).
        search: settings.aiqaAll || animated,
        predict: () => predictFor(original, 'webp', settings.d),
        curve: curveFor(WEBP_CURVES, original),
        startedAt,
      });
    },
  };
}

/** Lossy WebP of the original at a quality, as the experiments encode it (frames and delays kept). */
export function encodeWebp(original: Original, quality: number): Promise<Buffer> {
  return fromPixels(original, { opaque: !original.transparent })
    .webp({ quality, effort: WEBP_EFFORT, smartSubsample: true, ...animationOptions(original) })
    .toBuffer();
}

export const webp = webpExperiment('webp');
export const webpReencode = webpExperiment('webp-reencode');
/** Animated GIF → animated WebP: every frame compared, the worst one counts. */
export const webpAnimated = webpExperiment('webp-animated');
