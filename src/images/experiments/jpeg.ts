import type { Experiment } from '../experiment.js';
import { fromPixels, measureAgainst, type Original } from '../original.js';
import { predictFor } from '../quality-model.js';
import { curveFor, lossyVariant, type TypicalCurves } from '../quality-search.js';

/**
 * JPEG re-encode and JPEG from an opaque PNG/GIF (SPEC §6): mozjpeg settings (trellis quantisation, progressive
 * scans: ~16% smaller than plain libjpeg at equal DSSIM), quality by the DSSIM search, or the fixed quality.
 */
/**
 * mozjpeg's DSSIM at quality 71 (s = 58) and the slope in (log s, log DSSIM), measured on the demo images: photos
 * 0.0017–0.0058, graphics 0.0006–0.0014, slope 1.2–1.3 on both.
 */
const JPEG_CURVES: TypicalCurves = {
  photo: { point: { scale: 58, dssim: 0.0031 }, slope: 1.2 },
  graphic: { point: { scale: 58, dssim: 0.0009 }, slope: 1.2 },
};

function jpegExperiment(name: 'jpeg' | 'jpeg-from-png'): Experiment {
  return {
    name,
    run(original, settings) {
      if (original.transparent) return Promise.resolve({ ok: false, reason: 'has transparency', encodes: 0, ms: 0 });
      const startedAt = performance.now();
      return lossyVariant(settings, {
        experiment: name,
        format: 'jpeg',
        encode: (quality) => encodeJpeg(original, quality),
        measure: (bytes, above) => measureAgainst(original, bytes, above),
        search: true,
        predict: () => predictFor(original, 'jpeg', settings.d),
        curve: curveFor(JPEG_CURVES, original),
        startedAt,
      });
    },
  };
}

/** The JPEG of an opaque original at a quality, as the experiments encode it (mozjpeg). */
export function encodeJpeg(original: Original, quality: number): Promise<Buffer> {
  return fromPixels(original, { opaque: true }).jpeg({ quality, mozjpeg: true }).toBuffer();
}

export const jpeg = jpegExperiment('jpeg');
export const jpegFromPng = jpegExperiment('jpeg-from-png');
