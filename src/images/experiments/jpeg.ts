import type { Experiment } from '../experiment.js';
import { fromPixels, measureAgainst, type Original } from '../original.js';
import { predictFor } from '../quality-model.js';
import { lossyVariant } from '../quality-search.js';

/**
 * JPEG re-encode and JPEG from an opaque PNG/GIF (SPEC §6): mozjpeg settings (trellis quantisation, progressive
 * scans: ~16% smaller than plain libjpeg at equal DSSIM), quality by the DSSIM search, or the fixed quality.
 */
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
        measure: (bytes) => measureAgainst(original, bytes),
        search: true,
        predict: () => predictFor(original, 'jpeg', settings.d),
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
