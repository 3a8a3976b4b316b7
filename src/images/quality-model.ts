/**
 * `method="ml"`: a small linear model that predicts, from cheap features of an image, the quality the DSSIM search
 * would find, so that the search starts next to its answer. Trained by the project itself
 * (`npm run train:quality -- <folder>`, bench/train-quality-model.ts) on photographs, with the experiments' own
 * search results as targets; the weights live in quality-model-weights.ts. Nothing is downloaded.
 *
 * It predicts log s (libjpeg's scale factor, in which the DSSIM curve is close to linear: SPEC §6) from
 * [1, log d, features…], one weight vector per format.
 */
import { qualityFromScale } from './aiqa.js';
import { QUALITY_MODEL } from './quality-model-weights.js';
import type { ModelFormat, QualityModel } from './quality-model-shape.js';
import type { Original } from './original.js';
import type { RgbaImage } from './rgba.js';

export type { ModelFormat, QualityModel } from './quality-model-shape.js';

export const FEATURE_NAMES = ['log luma gradient', 'log chroma gradient', 'luma spread', 'flat share', 'busy share', 'log megapixels', 'source quality', 'log quantisation loss'] as const;

/** At most this many pixels are looked at: features of a 50 MP image cost what a 0.25 MP one does. */
const SAMPLE_PIXELS = 250_000;

/** IJG's luminance quantisation table at quality 50, row by row (natural order). */
const IJG_LUMINANCE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const IJG_LUMINANCE_SUM = IJG_LUMINANCE.reduce((a, b) => a + b, 0);
/** cos((2x + 1)uπ/16) · c(u) / 2: the orthonormal 8-point DCT-II basis. */
const DCT = Array.from({ length: 64 }, (_, i) => {
  const u = Math.floor(i / 8);
  const x = i % 8;
  return (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
});
/** Blocks looked at for the quantisation loss. */
const SAMPLE_BLOCKS = 1500;
/** SSIM's C2 for 8-bit values: keeps flat blocks from dividing by nothing. */
const C2 = (0.03 * 255) ** 2;

/**
 * How much a JPEG at quality 50 would lose, relative to what each block holds: luma 8×8 blocks (a sample),
 * DCT, IJG's table, the squared rounding error against the block's variance plus SSIM's C2 (the shape of
 * SSIM's contrast term), averaged. A stand-in for one encode and DSSIM, costing a few milliseconds.
 */
function quantisationLoss(luma: (x: number, y: number) => number, width: number, height: number): number {
  const across = Math.floor(width / 8);
  const down = Math.floor(height / 8);
  if (across === 0 || down === 0) return 0;
  const stride = Math.max(1, Math.floor(Math.sqrt((across * down) / SAMPLE_BLOCKS)));
  const block = new Float64Array(64);
  const rows = new Float64Array(64);
  let total = 0;
  let blocks = 0;
  for (let by = 0; by < down; by += stride) {
    for (let bx = 0; bx < across; bx += stride) {
      let mean = 0;
      for (let i = 0; i < 64; i += 1) {
        block[i] = luma(bx * 8 + (i % 8), by * 8 + Math.floor(i / 8));
        mean += block[i]!;
      }
      mean /= 64;
      let variance = 0;
      for (let i = 0; i < 64; i += 1) variance += (block[i]! - mean) ** 2;
      variance /= 64;
      // Separable DCT: rows, then columns.
      for (let y = 0; y < 8; y += 1) for (let u = 0; u < 8; u += 1) {
        let sum = 0;
        for (let x = 0; x < 8; x += 1) sum += DCT[u * 8 + x]! * block[y * 8 + x]!;
        rows[y * 8 + u] = sum;
      }
      let error = 0;
      for (let v = 0; v < 8; v += 1) for (let u = 0; u < 8; u += 1) {
        let coefficient = 0;
        for (let y = 0; y < 8; y += 1) coefficient += DCT[v * 8 + y]! * rows[y * 8 + u]!;
        const step = IJG_LUMINANCE[v * 8 + u]!;
        error += (coefficient - Math.round(coefficient / step) * step) ** 2;
      }
      total += error / 64 / (variance + C2);
      blocks += 1;
    }
  }
  return total / blocks;
}

/**
 * The quality a JPEG was saved at, estimated from its luminance quantisation table against IJG's (the scale
 * factor is the ratio of their sums); `undefined` for anything else. A photo saved at 70 has no detail left that
 * a re-encode at 90 would keep: the strongest single hint of where the search will land.
 */
export function jpegSourceQuality(bytes: Uint8Array): number | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 4 <= bytes.length && bytes[offset] === 0xff) {
    const marker = bytes[offset + 1]!;
    const length = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    if (marker === 0xda || marker === 0xd9) return undefined;
    if (marker === 0xdb) {
      let p = offset + 4;
      while (p < offset + 2 + length) {
        const precision = bytes[p]! >> 4;
        const id = bytes[p]! & 0x0f;
        const size = precision === 0 ? 1 : 2;
        if (id === 0) {
          let sum = 0;
          for (let i = 0; i < 64; i += 1) sum += size === 1 ? bytes[p + 1 + i]! : (bytes[p + 1 + 2 * i]! << 8) | bytes[p + 2 + 2 * i]!;
          return Math.min(100, Math.max(1, qualityFromScale((sum / IJG_LUMINANCE_SUM) * 100)));
        }
        p += 1 + 64 * size;
      }
    }
    offset += 2 + length;
  }
  return undefined;
}

/**
 * Features of an image's detail: how much luma and chroma change between neighbours (what a lossy encoder must
 * spend bits on, and what DSSIM sees lost), how spread the luma is, how much of it is flat (where artefacts
 * show) or busy (where texture hides them), its size, and the quality it was saved at if it is a JPEG (100
 * otherwise). Transparent pixels count as they are composited over white.
 */
export function imageFeatures(image: RgbaImage, sourceQuality = 100): number[] {
  const { width, height, data } = image;
  const step = Math.max(1, Math.floor(Math.sqrt((width * height) / SAMPLE_PIXELS)));
  const luma = (i: number) => {
    const a = data[i + 3]! / 255;
    const r = data[i]! * a + 255 * (1 - a);
    const g = data[i + 1]! * a + 255 * (1 - a);
    const b = data[i + 2]! * a + 255 * (1 - a);
    return { y: 0.299 * r + 0.587 * g + 0.114 * b, cb: b - g, cr: r - g };
  };
  let lumaGradient = 0;
  let chromaGradient = 0;
  let flat = 0;
  let busy = 0;
  let sum = 0;
  let sumSquares = 0;
  let count = 0;
  for (let y = 0; y + step < height; y += step) {
    for (let x = 0; x + step < width; x += step) {
      const here = luma((y * width + x) * 4);
      const right = luma((y * width + x + step) * 4);
      const below = luma(((y + step) * width + x) * 4);
      const gradient = Math.abs(here.y - right.y) + Math.abs(here.y - below.y);
      lumaGradient += gradient;
      chromaGradient += Math.abs(here.cb - right.cb) + Math.abs(here.cr - right.cr) + Math.abs(here.cb - below.cb) + Math.abs(here.cr - below.cr);
      if (gradient < 2) flat += 1;
      if (gradient > 24) busy += 1;
      sum += here.y;
      sumSquares += here.y * here.y;
      count += 1;
    }
  }
  const quality = sourceQuality / 100;
  const loss = Math.log(1e-6 + quantisationLoss((x, y) => luma((y * width + x) * 4).y, width, height));
  if (count === 0) return [0, 0, 0, 1, 0, Math.log10(Math.max(1, width * height) / 1e6), quality, loss];
  const mean = sum / count;
  return [
    Math.log1p(lumaGradient / count),
    Math.log1p(chromaGradient / count),
    Math.sqrt(Math.max(0, sumSquares / count - mean * mean)) / 64,
    flat / count,
    busy / count,
    Math.log10(Math.max(1, width * height) / 1e6),
    quality,
    loss,
  ];
}

/** The model's input row: bias, log d, then the features. */
export function modelRow(features: readonly number[], d: number): number[] {
  return [1, Math.log(d), ...features];
}

/** The quality the search would find for this format at `d`, as the model predicts it (fractional). */
export function predictQuality(format: ModelFormat, features: readonly number[], d: number, model: QualityModel = QUALITY_MODEL): number {
  const weights = model.weights[format];
  const row = modelRow(features, d);
  const logScale = row.reduce((sum, value, i) => sum + value * (weights[i] ?? 0), 0);
  return qualityFromScale(Math.exp(logScale));
}

const featureCache = new WeakMap<Original, number[]>();

/** The model's prediction for an original (its features computed once, on first use). */
export function predictFor(original: Original, format: ModelFormat, d: number): number {
  let features = featureCache.get(original);
  if (!features) {
    features = imageFeatures(original.pixels, jpegSourceQuality(original.bytes));
    featureCache.set(original, features);
  }
  return predictQuality(format, features, d);
}
