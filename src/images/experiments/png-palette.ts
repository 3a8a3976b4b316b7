import type { Experiment, Variant } from '../experiment.js';
import { fromPixels, measureAgainst } from '../original.js';

/** Palette sizes tried, largest first: the first that stays under d, then smaller ones while they do. */
const COLOURS = [256, 128, 64] as const;

/**
 * Palette PNG (libimagequant, SPEC §6): lossy, so accepted only under d. Fewer colours are smaller; the smallest
 * palette still under d wins.
 */
export const pngPalette: Experiment = {
  name: 'png-palette',
  async run(original, settings) {
    const startedAt = performance.now();
    const ms = () => Math.round(performance.now() - startedAt);
    if (settings.d <= 0 || settings.losslessPng) return { ok: false, reason: 'lossy PNG not allowed by the settings', encodes: 0, ms: 0 };
    let best: Variant | undefined;
    let encodes = 0;
    for (const colours of COLOURS) {
      const bytes = await fromPixels(original, { opaque: !original.transparent })
        .png({ palette: true, colours, dither: 1, effort: 10, compressionLevel: 9 })
        .toBuffer();
      encodes += 1;
      const dssim = await measureAgainst(original, bytes);
      if (dssim > settings.d) break;
      if (!best || bytes.length < best.bytes.length) best = { experiment: 'png-palette', format: 'png', bytes, quality: colours, dssim, lossless: false };
    }
    if (!best) return { ok: false, reason: `a 256-colour palette is above d = ${settings.d}`, encodes, ms: ms() };
    return { ok: true, variant: best, encodes, ms: ms() };
  },
};
