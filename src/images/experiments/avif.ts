import type { Experiment } from '../experiment.js';
import { fromPixels, measureAgainst, type Original } from '../original.js';
import { predictFor } from '../quality-model.js';
import { lossyVariant } from '../quality-search.js';

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
 * libaom's effort for AVIF, by measured cost and benefit (quality searched under d at each effort, demo photos and
 * drawings, 0.14–0.29 MP): effort 4 gives 2–10% fewer bytes than 3 at 3–4× its time (about 6 s per megapixel and
 * encode against 1.5); 2 costs 5–9% more bytes on photos for half of 3's time. A search needs 3–5 encodes.
 */
export const AVIF_EFFORT = 3;

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
      measure: (bytes) => measureAgainst(original, bytes),
      search: true,
      predict: () => predictFor(original, 'avif', settings.d),
      startedAt,
    });
  },
};

/** The AVIF of an opaque original at a quality and libaom effort (4:2:0, as browsers decode it fastest). */
export function encodeAvif(original: Original, quality: number, effort: number): Promise<Buffer> {
  return fromPixels(original, { opaque: true }).avif({ quality, effort, chromaSubsampling: '4:2:0' }).toBuffer();
}
