import type { Experiment, Variant } from '../experiment.js';
import { fromPixels, measureAgainst, type Original } from '../original.js';

/**
 * The palette sizes that give different files: sharp writes an indexed PNG at the fewest bits that hold the colours
 * asked for, and libvips quantises to all 2^bits of them (asked for 128, 64 or 32, it makes the same 256-colour
 * file; measured on the demo's charts and screenshots). Smallest first.
 */
export const PALETTE_SIZES = [2, 4, 16, 256] as const;
/**
 * libimagequant's effort: 7 instead of the slowest 10 costs 0.2–0.6% more bytes on the demo's graphics and saves
 * 20–33% of each encode.
 */
const PALETTE_EFFORT = 7;

/** Where the search starts: the middle, where most graphics land. */
const FIRST = 2;

/** Dithering hides banding but costs bytes (its noise compresses badly): both are tried. */
const DITHERS = [1, 0] as const;

/**
 * Palette PNG (libimagequant, SPEC §6): lossy, so accepted only under d. For each dithering, the fewest colours
 * still under d is searched (DSSIM grows as colours go: from 16, fewer until one fails, else more until one
 * passes); the smallest file of the two wins. (It used to try 256, 128 and 64 only: identical files, where the
 * wins were at 16 colours or fewer: a chart 6134 → 3284 bytes.)
 */
export const pngPalette: Experiment = {
  name: 'png-palette',
  async run(original, settings) {
    const startedAt = performance.now();
    const ms = () => Math.round(performance.now() - startedAt);
    if (settings.d <= 0 || settings.losslessPng) return { ok: false, reason: 'lossy PNG not allowed by the settings', encodes: 0, ms: 0 };
    let best: Variant | undefined;
    let encodes = 0;
    const tryPalette = async (colours: number, dither: number): Promise<boolean> => {
      const bytes = await encodePalette(original, colours, dither);
      encodes += 1;
      const dssim = await measureAgainst(original, bytes, settings.d);
      if (dssim > settings.d) return false;
      if (!best || bytes.length < best.bytes.length) best = { experiment: 'png-palette', format: 'png', bytes, quality: colours, dssim, lossless: false };
      return true;
    };
    for (const dither of DITHERS) {
      let at = FIRST;
      if (await tryPalette(PALETTE_SIZES[at]!, dither)) {
        while (at > 0 && (await tryPalette(PALETTE_SIZES[at - 1]!, dither))) at -= 1;
      } else {
        while (at < PALETTE_SIZES.length - 1 && !(await tryPalette(PALETTE_SIZES[at + 1]!, dither))) at += 1;
      }
    }
    if (!best) return { ok: false, reason: `a 256-colour palette is above d = ${settings.d}`, encodes, ms: ms() };
    return { ok: true, variant: best, encodes, ms: ms() };
  },
};

/** The palette PNG of the original with at most `colours` colours, dithered (1) or not (0), as the experiment makes it. */
export function encodePalette(original: Original, colours: number, dither: number): Promise<Buffer> {
  return fromPixels(original, { opaque: !original.transparent }).png({ palette: true, colours, dither, effort: PALETTE_EFFORT, compressionLevel: 9 }).toBuffer();
}
