import type { Experiment } from '../experiment.js';
import { fromPixels, measureAgainst, type Original } from '../original.js';
import { predictFor } from '../quality-model.js';
import { curveFor, lossyVariant, type TypicalCurves } from '../quality-search.js';

/**
 * Why an image with transparent pixels gets no AVIF (a deviation from SPEC §6's table, found by the browser
 * tests): Chromium 156 as Debian builds it reads the alpha plane of every AVIF as limited range (16–235) and
 * stretches it, whatever the AV1 sequence header says (full range, as sharp/libheif and avifenc both write it).
 * Soft edges and glows change: a logo measured at DSSIM 0.0012 by libvips renders at 0.013. sharp, libheif and
 * libavif's avifdec all decode the same files correctly, so the measurement cannot see it; only not sending alpha
 * AVIF keeps "looks the same" true in every browser. WebP and ZorroSVG carry transparency instead.
 */
/**
 * AVIF's YUV→RGB conversion (and 4:2:0 chroma upsampling) is left to the decoder: Chromium's renders the demo
 * site's AVIFs up to 2% further from the original than libvips' decode, which the search measures (a sprite at
 * 0.00197 by libvips showed 0.00200 in Chromium, over d = 0.002). The search aims 3% under d so that what
 * browsers show stays under d.
 */
export const AVIF_DECODER_MARGIN = 0.97;

/**
 * libaom's effort for AVIF, by measured cost and benefit (quality searched under d at each effort, 8 demo photos
 * and drawings): effort 2 makes 4% more bytes than 3 (128.2 against 123.1 KB) for 44% of its encoding CPU (4.5
 * against 10.2 s); 1 makes 9% more for a third; 4 saves 2–10% over 3 at 3–4× its time. At 2, the whole plan's
 * CPU per megapixel fell by a fifth, its bytes grew by 0.8% (74.7 → 73.9% saved on the cost bench's images).
 */
export const AVIF_EFFORT = 2;

/**
 * The qualities at which libheif's AV1 encoder changes its quantiser: the lowest of each of its 64 levels. Between
 * two of them every quality gives the same bytes (from the lowest end: 1–2, 3–5, … 50–51, 52–53, 54, 55, …), so the
 * search probes one quality per level. Found by encoding a noise image at every quality, at every effort alike;
 * test/images/aiqa-levels.test.ts checks it against the sharp that is installed.
 */
export const AVIF_LEVELS = [
  1, 3, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 35, 37, 39, 40, 42, 44, 45, 47, 49, 50, 52, 54, 55, 56, 58, 59, 60, 62, 63, 64, 66, 67, 68, 70,
  71, 72, 74, 75, 76, 78, 79, 80, 82, 83, 84, 86, 87, 88, 90, 91, 92, 94, 95, 96, 98, 99, 100,
] as const;

/** The qualities that give the same AVIF as `quality`. */
export function avifQualityGroup(quality: number): { lo: number; hi: number } {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  let at = 0;
  while (at + 1 < AVIF_LEVELS.length && AVIF_LEVELS[at + 1]! <= q) at += 1;
  return { lo: AVIF_LEVELS[at]!, hi: (AVIF_LEVELS[at + 1] ?? 101) - 1 };
}

/**
 * AVIF's DSSIM at quality 71 (s = 58) and the slope, measured on the demo images: photos 0.0008–0.0014, graphics
 * 0.0001–0.0005; the slope, 2.1–2.7, is twice JPEG's.
 */
const AVIF_CURVES: TypicalCurves = {
  photo: { point: { scale: 58, dssim: 0.00105 }, slope: 2.4 },
  graphic: { point: { scale: 58, dssim: 0.00025 }, slope: 2.4 },
};

export const AVIF_ALPHA_REJECTED = 'transparent: AVIF alpha renders stretched in some Chromium builds';

/**
 * AVIF (SPEC §6): quality by the DSSIM search, at the effort it is encoded with (SPEC §6: a quality found at one
 * setting does not carry over: searched at effort 1 and encoded at 4, results were 5–14% bigger than a search at
 * 4). Opaque pixels only (see AVIF_ALPHA_REJECTED).
 */
export const avif: Experiment = {
  name: 'avif',
  run(original, configured) {
    const startedAt = performance.now();
    const settings = configured.d > 0 ? { ...configured, d: configured.d * AVIF_DECODER_MARGIN } : configured;
    if (original.transparent) return Promise.resolve({ ok: false, reason: AVIF_ALPHA_REJECTED, encodes: 0, ms: 0 });
    return lossyVariant(settings, {
      experiment: 'avif',
      format: 'avif',
      encode: (quality) => encodeAvif(original, quality, settings.avifEffort),
      measure: (bytes, above) => measureAgainst(original, bytes, above),
      search: true,
      predict: () => predictFor(original, 'avif', settings.d),
      curve: curveFor(AVIF_CURVES, original),
      group: avifQualityGroup,
      startedAt,
    });
  },
};

/** The AVIF of an opaque original at a quality and libaom effort (4:2:0, as browsers decode it fastest). */
export function encodeAvif(original: Original, quality: number, effort: number): Promise<Buffer> {
  return fromPixels(original, { opaque: true }).avif({ quality, effort, chromaSubsampling: '4:2:0' }).toBuffer();
}
