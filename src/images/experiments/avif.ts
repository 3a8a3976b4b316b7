import type { Experiment } from '../experiment.js';
import { fromPixels, measureAgainst } from '../original.js';
import { predictFor } from '../quality-model.js';
import { lossyVariant, withinTarget } from '../quality-search.js';

/** libaom effort for the search's trial encodes: a tenth of the time of effort 4, nearly the same curve. */
const SEARCH_EFFORT = 1;

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
const DECODER_MARGIN = 0.97;

export const AVIF_ALPHA_REJECTED = 'transparent: AVIF alpha renders stretched in some Chromium builds';

/**
 * AVIF (SPEC §6): quality by the DSSIM search at low effort, then one final encode at the configured effort,
 * kept only if it is still under d and smaller. Opaque pixels only (see AVIF_ALPHA_REJECTED).
 */
export const avif: Experiment = {
  name: 'avif',
  async run(original, configured) {
    const startedAt = performance.now();
    const settings = configured.d > 0 ? { ...configured, d: configured.d * DECODER_MARGIN } : configured;
    if (original.transparent) return { ok: false, reason: AVIF_ALPHA_REJECTED, encodes: 0, ms: 0 };
    const encodeAt = (effort: number) => (quality: number) =>
      fromPixels(original, { opaque: true }).avif({ quality, effort, chromaSubsampling: '4:2:0' }).toBuffer();
    const measure = (bytes: Buffer) => measureAgainst(original, bytes);
    const searched = await lossyVariant(settings, { experiment: 'avif', format: 'avif', encode: encodeAt(SEARCH_EFFORT), measure, search: true, predict: () => predictFor(original, 'avif', settings.d), startedAt });
    if (!searched.ok || settings.avifEffort <= SEARCH_EFFORT) return searched;
    const quality = searched.variant.quality!;
    const bytes = await encodeAt(settings.avifEffort)(quality);
    const dssim = await measure(bytes);
    const ms = Math.round(performance.now() - startedAt);
    const better = bytes.length < searched.variant.bytes.length && withinTarget(settings, dssim);
    return better
      ? { ok: true, variant: { ...searched.variant, bytes, dssim }, encodes: searched.encodes + 1, ms }
      : { ...searched, encodes: searched.encodes + 1, ms };
  },
};
