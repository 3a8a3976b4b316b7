/** Generated images for the bounded-DSSIM tests: any size, deterministic, photo-like enough to matter. */
import sharp from 'sharp';
import { decodeRgba, type RgbaImage } from '../../src/images/rgba.js';

/** A small deterministic generator (LCG): the same image on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 24;
  };
}

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v | 0);

/** Gradients in each channel plus noise; with `alpha`, a varying alpha with fully transparent and opaque parts. */
export function gradientImage(width: number, height: number, options: { seed?: number; alpha?: boolean } = {}): RgbaImage {
  const next = random(options.seed ?? 1);
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = (y * width + x) * 4;
      const noise = (next() >> 2) - 32;
      data[i] = clamp((x * 255) / width + noise);
      data[i + 1] = clamp((y * 255) / height + noise);
      data[i + 2] = clamp(((x + y) * 127) / (width + height) + 64 + (noise >> 1));
      data[i + 3] = options.alpha ? clamp(((x * 3) % 400) - 70) : 255;
    }
  }
  return { width, height, data };
}

/** The image with small deterministic changes to every channel (alpha included when not opaque). */
export function perturbed(image: RgbaImage, seed = 2): RgbaImage {
  const next = random(seed);
  const data = Uint8Array.from(image.data, (v, i) => ((i & 3) === 3 && v === 255 ? v : clamp(v + (next() & 7) - 3)));
  return { width: image.width, height: image.height, data };
}

/** The image encoded as a JPEG and decoded as every comparison decodes (SPEC §9 step 1). */
export async function jpegCandidate(image: RgbaImage, quality = 70): Promise<RgbaImage> {
  const { width, height, data } = image;
  return decodeRgba(await sharp(data, { raw: { width, height, channels: 4 } }).jpeg({ quality }).toBuffer());
}
