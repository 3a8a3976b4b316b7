import type { Experiment } from '../experiment.js';
import { fromPixels, measureAgainst } from '../original.js';
import { lossyVariant } from '../quality-search.js';

/** libaom effort for the search's trial encodes: a tenth of the time of effort 4, nearly the same curve. */
const SEARCH_EFFORT = 1;

/**
 * AVIF (SPEC §6): quality by the DSSIM search at low effort, then one final encode at the configured effort,
 * kept only if it is still under d and smaller.
 */
export const avif: Experiment = {
  name: 'avif',
  async run(original, settings) {
    const startedAt = performance.now();
    const encodeAt = (effort: number) => (quality: number) =>
      fromPixels(original, { opaque: !original.transparent }).avif({ quality, effort, chromaSubsampling: '4:2:0' }).toBuffer();
    const measure = (bytes: Buffer) => measureAgainst(original, bytes);
    const searched = await lossyVariant(settings, { experiment: 'avif', format: 'avif', encode: encodeAt(SEARCH_EFFORT), measure, search: true, startedAt });
    if (!searched.ok || settings.avifEffort <= SEARCH_EFFORT) return searched;
    const quality = searched.variant.quality!;
    const bytes = await encodeAt(settings.avifEffort)(quality);
    const dssim = await measure(bytes);
    const ms = Math.round(performance.now() - startedAt);
    const better = bytes.length < searched.variant.bytes.length && (settings.d <= 0 || dssim <= settings.d);
    return better
      ? { ok: true, variant: { ...searched.variant, bytes, dssim }, encodes: searched.encodes + 1, ms }
      : { ...searched, encodes: searched.encodes + 1, ms };
  },
};
