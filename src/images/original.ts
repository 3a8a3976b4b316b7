import sharp, { type Sharp } from 'sharp';
import { type DssimLayout, DssimReference, DssimWorkspace, leastDssimBytes, planDssim, plannedBytes } from './dssim.js';
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
  /**
   * For an animation, one reference per frame: a candidate is as good as its worst frame. (Measured over the
   * whole strip, good frames hid bad ones: an animated GIF at 0.0018 had every other frame at 0.0034.)
   */
  readonly frameReferences: readonly DssimReference[];
  /** An animation's timing, which raw pixels do not carry: every animated encode must pass it on. */
  readonly animation: { readonly delay: number[]; readonly loop: number } | undefined;
}

export type PreparedOriginal = { readonly ok: true; readonly original: Original } | { readonly ok: false; readonly reason: string };

/** `<limits max-experiment-memory>` when the limits do not say. */
export const DEFAULT_MAX_EXPERIMENT_BYTES = 2 ** 30;

/** What experiments on one original may hold at most, and the DSSIM layout that keeps them there. */
export type ExperimentMemory = { readonly ok: true; readonly bytes: number; readonly layout: DssimLayout } | { readonly ok: false; readonly reason: string };

/**
 * The memory experiments on an original of these facts need, known from its header before anything is decoded:
 * its decoded pixels (every frame), a candidate's decoded pixels (as many: `measureAgainst` decodes them all),
 * and the DSSIM references (one per frame: their kept planes add up, one comparison at a time). Not counted: the
 * encoders' and decoders' own working memory inside libvips, and the JavaScript heap.
 */
export function experimentMemory(facts: ImageFacts, limits: ProbeLimits): ExperimentMemory {
  const bound = limits.maxMemoryBytes ?? DEFAULT_MAX_EXPERIMENT_BYTES;
  const { frames } = facts;
  // The header's size is before EXIF orientation: planned with the longer side as the width, the strips'
  // buffers (a width × rows) are the larger of the two ways the pixels may come out.
  const width = Math.max(facts.width, facts.height);
  const height = Math.min(facts.width, facts.height);
  const pixels = 4 * width * height * frames;
  const left = bound - 2 * pixels;
  // The header's alpha channel may be unused: planned as transparent (two backgrounds), it can only cost less.
  const plan = left > 0 ? planDssim(width, height, { transparent: facts.hasAlpha, maxBytes: left, references: frames }) : undefined;
  if (!plan) {
    const size = `${facts.width}x${facts.height}${frames > 1 ? ` x ${frames} frames` : ''}`;
    const dssim = leastDssimBytes(width, height, facts.hasAlpha, frames);
    return { ok: false, reason: `over max-experiment-memory (${mb(bound)} MB): ${size} needs ${mb(2 * pixels)} MB of decoded pixels (original and candidate) and at least ${mb(dssim)} MB for DSSIM` };
  }
  return { ok: true, bytes: 2 * pixels + plannedBytes(plan, frames), layout: plan.layout };
}

const mb = (bytes: number) => Math.ceil(bytes / 2 ** 20);

export interface PrepareOptions {
  /**
   * Called once the memory the original will need is known (`experimentMemory`), before its pixels are decoded:
   * the place to let go of other originals.
   */
  readonly makeRoom?: (bytes: number) => void;
}

/**
 * Probes, then decodes within the limits; anything wrong (truncated, corrupt, too large, more than
 * max-experiment-memory allows) is a reason.
 */
export async function prepareOriginal(bytes: Buffer, limits: ProbeLimits, options: PrepareOptions = {}): Promise<PreparedOriginal> {
  const probed = await probeImage(bytes, limits);
  if (!probed.ok) return probed;
  const memory = experimentMemory(probed.facts, limits);
  if (!memory.ok) return memory;
  options.makeRoom?.(memory.bytes);
  let pixels: RgbaImage;
  try {
    // The probe refused width × height × frames over maxPixels; libvips applies the limit to the same area
    // (an animation decodes as one image of every frame, and the limit is on that image: checked in
    // test/images/worker-memory.test.ts).
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: limits.maxPixels, animated: probed.facts.frames > 1 })
      .rotate()
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    pixels = { width: info.width, height: info.height, data };
  } catch (err) {
    return { ok: false, reason: `decode failed: ${(err as Error).message}` };
  }
  const frames = probed.facts.frames;
  let animation: Original['animation'];
  if (frames > 1) {
    const { delay, loop } = await sharp(bytes, { animated: true }).metadata();
    animation = { delay: delay ?? [], loop: loop ?? 0 };
  }
  // The layout planned for the bound, not one chosen again per frame (all frames' kept planes add up), and one
  // workspace for all frames (compared one at a time).
  const layout = { layout: memory.layout, workspace: new DssimWorkspace() };
  const frameReferences = frames > 1 ? splitFrames(pixels, frames).map((frame) => new DssimReference(frame, layout)) : [];
  const reference = frames > 1 ? frameReferences[0]! : new DssimReference(pixels, layout);
  const transparent = frames > 1 ? frameReferences.some((frame) => frame.transparent) : reference.transparent;
  return { ok: true, original: { bytes, facts: probed.facts, pixels, transparent, reference, frameReferences, animation } };
}

/** The frames of an animation decoded as one strip (frames one under the other). */
function splitFrames(strip: RgbaImage, frames: number): RgbaImage[] {
  const height = strip.height / frames;
  const frameBytes = strip.width * height * 4;
  return Array.from({ length: frames }, (_, i) => ({ width: strip.width, height, data: strip.data.subarray(i * frameBytes, (i + 1) * frameBytes) }));
}

/**
 * A sharp pipeline on the original's prepared pixels (no metadata: raw input has none). For an animation, pass
 * `animationOptions(original)` to the encoder, or the frames play at libvips' default pace.
 */
export function fromPixels(original: Original, options: { opaque?: boolean } = {}): Sharp {
  const { width, height, data } = original.pixels;
  const frames = original.facts.frames;
  const pipeline = sharp(data, { raw: { width, height, channels: 4, ...(frames > 1 ? { pageHeight: height / frames } : {}) } });
  return options.opaque ? pipeline.removeAlpha() : pipeline;
}

/**
 * DSSIM of encoded candidate bytes against the original (decoded the same way, SPEC §9 step 1); for an
 * animation, the worst frame's. With `above`, it may stop at the first background or frame over it and return
 * that value (see `DssimReference.compare`): exact for "is it over `above`?".
 */
export async function measureAgainst(original: Original, candidate: Buffer, above = Infinity): Promise<number> {
  const frames = original.facts.frames;
  if (frames <= 1) return original.reference.compare(await decodeRgba(candidate), above);
  const strip = await decodeRgba(candidate, { animated: true });
  if (strip.width !== original.pixels.width || strip.height !== original.pixels.height) {
    throw new RangeError(`DSSIM needs equal sizes: ${original.pixels.width}×${original.pixels.height} vs ${strip.width}×${strip.height}`);
  }
  let worst = -Infinity;
  for (const [i, frame] of splitFrames(strip, frames).entries()) {
    worst = Math.max(worst, original.frameReferences[i]!.compare(frame, above));
    if (worst > above) break;
  }
  return worst;
}

/** The encoder options that keep an animation's frame delays and loop count. */
export function animationOptions(original: Original): { delay?: number[]; loop?: number } {
  return original.animation ? { ...(original.animation.delay.length > 0 ? { delay: original.animation.delay } : {}), loop: original.animation.loop } : {};
}
