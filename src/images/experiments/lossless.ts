import type { Experiment, ExperimentName, KnownSizes, VariantFormat } from '../experiment.js';
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

/**
 * A lossless re-encode: the smallest of its candidate encodings that decodes to exactly the original's pixels
 * (each is checked: a reduction that loses anything is never taken).
 */
function losslessExperiment(
  name: ExperimentName,
  format: VariantFormat,
  candidates: (original: Original) => (() => Promise<Buffer>)[],
  /** Why it cannot win, from what the original's other experiments came to (nothing is encoded then). */
  cannotWin: (known: KnownSizes) => string | undefined = () => undefined,
): Experiment {
  return {
    name,
    async run(original, _settings, known = {}) {
      const hopeless = cannotWin(known);
      if (hopeless) return { ok: false, reason: hopeless, encodes: 0, ms: 0 };
      const startedAt = performance.now();
      let best: Buffer | undefined;
      let encodes = 0;
      for (const encode of candidates(original)) {
        const bytes = await encode();
        encodes += 1;
        if ((!best || bytes.length < best.length) && (await samePixels(original, bytes))) best = bytes;
      }
      const ms = Math.round(performance.now() - startedAt);
      if (!best) return { ok: false, reason: 'not pixel-identical', encodes, ms };
      return { ok: true, variant: { experiment: name, format, bytes: best, dssim: 0, lossless: true }, encodes, ms };
    },
  };
}

/** What a PNG may drop without losing a visible pixel: colour (every visible pixel grey), and its colour count. */
export interface PixelTraits {
  readonly grey: boolean;
  /** Distinct visible colours (RGBA; every fully transparent pixel counts as one), up to 257 ("more than 256"). */
  readonly colours: number;
}

export function pixelTraits(original: Original): PixelTraits {
  const data = original.pixels.data;
  const colours = new Set<number>();
  let grey = true;
  for (let i = 0; i < data.length; i += 4) {
    const alpha = data[i + 3]!;
    if (alpha === 0) {
      if (colours.size <= 256) colours.add(0);
      continue;
    }
    const r = data[i]!;
    const g = data[i + 1]!;
    const b = data[i + 2]!;
    if (r !== g || g !== b) grey = false;
    if (colours.size <= 256) colours.add(((r << 24) | (g << 16) | (b << 8) | alpha) >>> 0);
    else if (!grey) break;
  }
  return { grey, colours: Math.min(colours.size, 257) };
}

const PNG_MOST = { compressionLevel: 9, adaptiveFiltering: true } as const;

/**
 * PNG recompressed at the highest effort: as it is (alpha dropped when unused), as greyscale when every visible
 * pixel is grey (1 or 2 channels instead of 3 or 4), and with an exact palette when it has 256 colours or fewer
 * (sharp writes it at the fewest bits per pixel that hold them). The smallest identical one wins.
 */
export const pngLossless = losslessExperiment('png-lossless', 'png', (original) => {
  const opaque = !original.transparent;
  const traits = pixelTraits(original);
  return [
    () => fromPixels(original, { opaque }).png(PNG_MOST).toBuffer(),
    ...(traits.grey ? [() => fromPixels(original, { opaque }).toColourspace('b-w').png(PNG_MOST).toBuffer()] : []),
    ...(traits.colours <= 256
      ? [() => fromPixels(original, { opaque }).png({ ...PNG_MOST, palette: true, colours: Math.max(2, traits.colours), dither: 0, quality: 100, effort: 10 }).toBuffer()]
      : []),
  ];
});

/**
 * Lossless WebP came to 0.62–0.93 of the smallest lossless PNG on the demo's graphics (a photo-like texture 0.93,
 * a chart 0.66). Where an outcome every WebP-capable mark may have (lossy WebP, a PNG, a JPEG: not AVIF or
 * ZorroSVG, which some lack) is already below half that PNG, lossless WebP cannot be the smallest for any mark:
 * it is not run (on the demo's graphics it cost more CPU than any other experiment, 1.6 s per megapixel, and won
 * on none).
 */
const LOSSLESS_WEBP_AT_LEAST = 0.5;
const FOR_EVERY_WEBP_MARK: readonly ExperimentName[] = ['webp', 'png-palette', 'png-lossless', 'jpeg-from-png'];

/**
 * WebP lossless (SPEC §6: for PNG/GIF input). In lossless mode `quality` is how hard libwebp compresses: measured on
 * the demo's graphics, quality 100 at effort 5 is 1–26% smaller than the default 80 at effort 6 (a brick texture
 * 26,062 → 19,342 bytes), as small as effort 6 on all but one, at a third of effort 6's time.
 */
export const webpLossless = losslessExperiment(
  'webp-lossless',
  'webp',
  (original) => [() => fromPixels(original, { opaque: !original.transparent }).webp({ lossless: true, quality: 100, effort: 5, ...animationOptions(original) }).toBuffer()],
  (known) => {
    const png = known['png-lossless'];
    if (png === undefined) return undefined;
    for (const other of FOR_EVERY_WEBP_MARK) {
      const bytes = known[other];
      if (bytes !== undefined && bytes < LOSSLESS_WEBP_AT_LEAST * png) return `cannot win: ${other} (${bytes} bytes) is under half the smallest lossless PNG (${png} bytes)`;
    }
    return undefined;
  },
);
