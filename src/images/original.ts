import sharp, { type Sharp } from 'sharp';
import { DssimReference } from './dssim.js';
import { type ImageFacts, type ProbeLimits, probeImage } from './probe.js';
import { decodeRgba, type RgbaImage } from './rgba.js';

/**
 * An original ready for experiments: its facts, and its pixels as every experiment starts from them (SPEC §6:
 * EXIF orientation applied, colour profile converted to sRGB, metadata gone). Animations keep all frames, one
 * under the other.
 */
export interface Original {
  readonly bytes: Buffer;
  readonly facts: ImageFacts;
  readonly pixels: RgbaImage;
  /** Alpha below 255 somewhere (the header's "has alpha" may only mean an unused channel). */
  readonly transparent: boolean;
  /** The original's side of DSSIM, prepared once for every candidate. */
  readonly reference: DssimReference;
}

export type PreparedOriginal = { readonly ok: true; readonly original: Original } | { readonly ok: false; readonly reason: string };

/** Probes, then decodes within the limits; anything wrong (truncated, corrupt, too large) is a reason. */
export async function prepareOriginal(bytes: Buffer, limits: ProbeLimits): Promise<PreparedOriginal> {
  const probed = await probeImage(bytes, limits);
  if (!probed.ok) return probed;
  let pixels: RgbaImage;
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: limits.maxPixels * probed.facts.frames, animated: probed.facts.frames > 1 })
      .rotate()
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    pixels = { width: info.width, height: info.height, data };
  } catch (err) {
    return { ok: false, reason: `decode failed: ${(err as Error).message}` };
  }
  const reference = new DssimReference(pixels);
  return { ok: true, original: { bytes, facts: probed.facts, pixels, transparent: reference.transparent, reference } };
}

/** A sharp pipeline on the original's prepared pixels (no metadata: raw input has none). */
export function fromPixels(original: Original, options: { opaque?: boolean } = {}): Sharp {
  const { width, height, data } = original.pixels;
  const frames = original.facts.frames;
  const pipeline = sharp(data, { raw: { width, height, channels: 4, ...(frames > 1 ? { pageHeight: height / frames } : {}) } });
  return options.opaque ? pipeline.removeAlpha() : pipeline;
}

/** DSSIM of encoded candidate bytes against the original (decoded the same way, SPEC §9 step 1). */
export async function measureAgainst(original: Original, candidate: Buffer): Promise<number> {
  return original.reference.compare(await decodeRgba(candidate, { animated: original.facts.frames > 1 }));
}
