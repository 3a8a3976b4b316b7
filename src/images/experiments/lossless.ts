import type { Experiment, ExperimentName, VariantFormat } from '../experiment.js';
import { type Original, animationOptions, fromPixels } from '../original.js';
import { decodeRgba } from '../rgba.js';

/**
 * Lossless means every visible pixel as it was: alpha everywhere, colour wherever alpha is not 0 (encoders may
 * rewrite the invisible colour under fully transparent pixels; no one can see it).
 */
async function samePixels(original: Original, bytes: Buffer): Promise<boolean> {
  const decoded = (await decodeRgba(bytes, { animated: original.facts.frames > 1 })).data;
  const expected = original.pixels.data;
  if (decoded.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i += 4) {
    if (decoded[i + 3] !== expected[i + 3]) return false;
    if (expected[i + 3] === 0) continue;
    if (decoded[i] !== expected[i] || decoded[i + 1] !== expected[i + 1] || decoded[i + 2] !== expected[i + 2]) return false;
  }
  return true;
}

/** A lossless re-encode: accepted only if it decodes to exactly the original's pixels. */
function losslessExperiment(name: ExperimentName, format: VariantFormat, encode: (original: Original) => Promise<Buffer>): Experiment {
  return {
    name,
    async run(original) {
      const startedAt = performance.now();
      const bytes = await encode(original);
      const ms = () => Math.round(performance.now() - startedAt);
      if (!(await samePixels(original, bytes))) return { ok: false, reason: 'not pixel-identical', encodes: 1, ms: ms() };
      return { ok: true, variant: { experiment: name, format, bytes, dssim: 0, lossless: true }, encodes: 1, ms: ms() };
    },
  };
}

/** PNG recompressed at the highest effort, alpha dropped when unused. */
export const pngLossless = losslessExperiment('png-lossless', 'png', (original) =>
  fromPixels(original, { opaque: !original.transparent }).png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer(),
);

/** WebP lossless (SPEC §6: for PNG/GIF input). */
export const webpLossless = losslessExperiment('webp-lossless', 'webp', (original) =>
  fromPixels(original, { opaque: !original.transparent }).webp({ lossless: true, effort: 6, ...animationOptions(original) }).toBuffer(),
);
