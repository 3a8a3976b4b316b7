/**
 * Explicit image options (`<image-api enabled="true"/>`, imgproxy/imgix style): crop, resize to a bounding box,
 * then encode in the asked format at the asked quality, through the same experiments and quality methods as the
 * background work. Runs in the experiment pool's workers like any experiment.
 */
import sharp from 'sharp';
import { DssimReference } from './dssim.js';
import type { EngineSettings, Experiment, ExperimentOutcome, Variant } from './experiment.js';
import { webpLossless, pngLossless } from './experiments/lossless.js';
import { AVIF_ALPHA_REJECTED, avif } from './experiments/avif.js';
import { jpeg } from './experiments/jpeg.js';
import { webp } from './experiments/webp.js';
import type { Original } from './original.js';
import { fromPixels, measureAgainst } from './original.js';
import type { RgbaImage } from './rgba.js';
import { type ImageTransform, type OutputFormat, reshapePlan } from './transform-options.js';

export type { ImageTransform, OutputFormat } from './transform-options.js';

/** The original's type, as an output format (GIF becomes PNG). */
function sameFormat(original: Original): OutputFormat {
  const type = original.facts.type;
  return type === 'gif' ? 'png' : type;
}

function candidates(transform: ImageTransform, original: Original): OutputFormat[] {
  const refused = (f: OutputFormat) => transform.refuse?.includes(f) === true;
  const everyClient: OutputFormat = original.transparent ? 'png' : 'jpeg';
  const format = transform.format;
  if (format === undefined) return [refused(sameFormat(original)) ? everyClient : sameFormat(original)];
  if (typeof format === 'string') return [refused(format) ? everyClient : format];
  // AVIF alpha renders wrong in some Chromium builds (see experiments/avif.ts): not offered for transparency.
  const modern = format.auto.filter((f) => !(f === 'avif' && original.transparent) && !refused(f));
  const fallback = format.fallback !== undefined && !refused(format.fallback) ? format.fallback : everyClient;
  return [...new Set([...modern, fallback])];
}

/** Crop, then resize: the pixels the encodes start from, and what was done to them. */
async function reshape(original: Original, transform: ImageTransform, opaque: boolean): Promise<{ image: RgbaImage; operations: string[] }> {
  const { width, height, data } = original.pixels;
  let pipeline = sharp(data, { raw: { width, height, channels: 4 } });
  const operations: string[] = [];
  const { crop, resize } = reshapePlan(transform, width, height);
  if (crop) {
    pipeline = pipeline.extract(crop);
    operations.push(`crop ${crop.width}x${crop.height}`);
  }
  if (resize) {
    pipeline = pipeline.resize(resize.width, resize.height, { kernel: resize.kernel, fit: 'fill' });
    operations.push(`resize ${resize.width}x${resize.height} ${resize.kernel}`);
  }
  if (opaque) pipeline = pipeline.flatten({ background: '#ffffff' });
  const { data: pixels, info } = await pipeline.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { image: { width: info.width, height: info.height, data: pixels }, operations };
}

/** The reshaped pixels as an original of their own: the experiments measure against what was asked for. */
function reshapedOriginal(original: Original, image: RgbaImage): Original {
  const reference = new DssimReference(image);
  return {
    bytes: original.bytes,
    facts: { ...original.facts, width: image.width, height: image.height, frames: 1, hasAlpha: reference.transparent },
    pixels: image,
    transparent: reference.transparent,
    reference,
    frameReferences: [],
    animation: undefined,
  };
}

/** The engine settings for the quality asked for: fixed, a method of its own, or the configured one. */
function settingsFor(transform: ImageTransform, base: EngineSettings): EngineSettings {
  const { quality, autoquality } = transform;
  if (typeof quality === 'number') return { ...base, method: 'none', quality, aiqaAll: false };
  if (autoquality) {
    const { method, target, minQuality, maxQuality, allowedError } = autoquality;
    return {
      ...base,
      method,
      aiqaAll: true,
      ...(method === 'size' ? { targetBytes: target } : target === undefined ? {} : { d: target }),
      ...(minQuality === undefined ? {} : { minQuality }),
      ...(maxQuality === undefined ? {} : { maxQuality }),
      ...(allowedError === undefined ? {} : { allowedError }),
    };
  }
  return { ...base, aiqaAll: true };
}

async function encodeAs(format: OutputFormat, source: Original, transform: ImageTransform, settings: EngineSettings): Promise<ExperimentOutcome> {
  const lossless = transform.quality === 'lossless';
  switch (format) {
    case 'jpeg':
      return jpeg.run(source, lossless ? { ...settings, method: 'none', quality: 100 } : settings);
    case 'webp':
      return (lossless ? webpLossless : webp).run(source, settings);
    case 'avif':
      if (!lossless) return avif.run(source, settings);
      // The same refusal as the avif experiment's, for the same reason.
      if (source.transparent) return { ok: false, reason: AVIF_ALPHA_REJECTED, encodes: 0, ms: 0 };
      return encoded('avif', await fromPixels(source, { opaque: true }).avif({ lossless: true }).toBuffer(), undefined, 0);
    case 'png': {
      if (lossless || typeof transform.quality !== 'number') return pngLossless.run(source, settings);
      // A palette is lossy: what it costs is measured, as for every lossy variant.
      const bytes = await fromPixels(source, { opaque: !source.transparent }).png({ palette: true, quality: transform.quality, effort: 10, compressionLevel: 9 }).toBuffer();
      return encoded('png', bytes, transform.quality, await measureAgainst(source, bytes));
    }
  }
}

function encoded(format: 'avif' | 'png', bytes: Buffer, quality: number | undefined, dssim: number): ExperimentOutcome {
  return { ok: true, variant: { experiment: 'transform', format, bytes, ...(quality === undefined ? {} : { quality }), dssim, lossless: quality === undefined }, encodes: 1, ms: 0 };
}

/** The `transform` experiment: the smallest result among the candidate formats, with the operations named. */
export const transform: Experiment = {
  name: 'transform',
  async run(original, settings) {
    const startedAt = performance.now();
    const asked = settings.transform;
    if (!asked) return { ok: false, reason: 'no transform asked for', encodes: 0, ms: 0 };
    if (original.facts.frames > 1) return { ok: false, reason: 'animated images are not transformed', encodes: 0, ms: 0 };
    const formats = candidates(asked, original);
    // JPEG only: transparent pixels are put over white first.
    const opaque = formats.every((format) => format === 'jpeg');
    const { image, operations } = await reshape(original, asked, opaque);
    const source = reshapedOriginal(original, image);
    const settingsForEncodes = settingsFor(asked, settings);
    let best: Variant | undefined;
    let encodes = 0;
    const reasons: string[] = [];
    for (const format of formats) {
      const outcome = await encodeAs(format, source, asked, settingsForEncodes);
      encodes += outcome.encodes;
      if (!outcome.ok) {
        reasons.push(`${format}: ${outcome.reason}`);
        continue;
      }
      const size = (outcome.variant.transfer?.bytes ?? outcome.variant.bytes).length;
      if (!best || size < best.bytes.length) best = outcome.variant;
    }
    if (!best && operations.length > 0) {
      // A reshape asked for is the answer even when no quality reaches the target (tiny thumbnails often do not):
      // the highest quality allowed, saying what fell short, rather than the full-size original.
      const format = formats[formats.length - 1]!;
      const highest = settingsForEncodes.formatBounds?.[format]?.max ?? settingsForEncodes.maxQuality;
      const outcome = await encodeAs(format, source, asked, { ...settingsForEncodes, method: 'none', quality: highest });
      encodes += outcome.encodes;
      if (outcome.ok) best = { ...outcome.variant, shortfall: `${reasons.join('; ')}: sent at quality ${highest}` };
      else reasons.push(`${format} at quality ${highest}: ${outcome.reason}`);
    }
    const ms = Math.round(performance.now() - startedAt);
    if (!best) return { ok: false, reason: reasons.join('; '), encodes, ms };
    const quality = best.quality === undefined ? (best.lossless ? 'lossless' : '') : `q${best.quality}`;
    return {
      ok: true,
      variant: { ...best, experiment: 'transform', operations: [...operations, `${best.format}${quality ? ` ${quality}` : ''}`].join(', '), reshaped: operations.length > 0 },
      encodes,
      ms,
    };
  },
};
