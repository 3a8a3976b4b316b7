import { hasTransparency, type RgbaImage } from './rgba.js';

/**
 * DSSIM as SPEC §9 defines it: multi-scale, in a Lab-like space, SSIM terms averaged over the three planes
 * before the SSIM formula, each scale pooled by its deviation from its own mean. 0 for identical images.
 *
 * The original's side (steps 1–5) is prepared once (`prepareReference`) and reused for every candidate. Planes
 * are Float32, sums double. No allocation per pixel.
 */

const SCALE_WEIGHTS = [0.028, 0.197, 0.322, 0.298, 0.155] as const;
const MAX_SCALES = SCALE_WEIGHTS.length;
const MIN_SIDE = 8;
const KERNEL_SIDE = 0.30875886;
const KERNEL_CENTRE = 0.3824828;
const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;
const EPSILON = 216 / 24389;
const KAPPA_OVER_116 = 24389 / 27 / 116;

/** sRGB 8-bit → linear light (SPEC §9 step 3). */
const TO_LINEAR = Float64Array.from({ length: 256 }, (_, i) => {
  const v = i / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
});

function linearToSrgb8Exact(x: number): number {
  const v = x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055;
  return Math.min(255, Math.max(0, Math.round(v * 255)));
}

/**
 * Linear light → rounded 8-bit sRGB without a power per pixel (alpha images composite every channel twice): a
 * table over [0, 1] gives the answer or its neighbour, and the exact rounding thresholds decide. The steepest
 * part of the curve (near 0, slope 12.92) still has thresholds further apart than one table cell.
 */
const SRGB_CELLS = 1 << 16;
/** THRESHOLD[k]: the smallest linear value that rounds to k (k = 1…255). */
const THRESHOLD = Float64Array.from({ length: 257 }, (_, k) => {
  if (k === 0) return -Infinity;
  if (k === 256) return Infinity;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i += 1) {
    const mid = (lo + hi) / 2;
    if (linearToSrgb8Exact(mid) >= k) hi = mid;
    else lo = mid;
  }
  return hi;
});
const SRGB_GUESS = Uint8Array.from({ length: SRGB_CELLS + 1 }, (_, i) => linearToSrgb8Exact(i / SRGB_CELLS));

function linearToSrgb8(x: number): number {
  if (!(x > 0)) return 0;
  if (x >= 1) return 255;
  let k = SRGB_GUESS[Math.floor(x * SRGB_CELLS)]!;
  while (x < THRESHOLD[k]!) k -= 1;
  while (x >= THRESHOLD[k + 1]!) k += 1;
  return k;
}

type Background = 'none' | 'black' | 'white';

/**
 * Where planes come from: fresh arrays for the original's side (kept), or the same scratch arrays again for
 * every candidate (a reference compares one candidate at a time), so comparing allocates nothing.
 */
type Planes = (key: string, length: number) => Float32Array;

const freshPlanes: Planes = (_key, length) => new Float32Array(length);

function scratchPlanes(): Planes {
  const arrays = new Map<string, Float32Array>();
  return (key, length) => {
    let array = arrays.get(key);
    if (!array || array.length !== length) {
      array = new Float32Array(length);
      arrays.set(key, array);
    }
    return array;
  };
}

/** Linear RGB planes of scale 0 (step 2: composited over a background when alpha matters, as 8-bit sRGB). */
function linearPlanes(image: RgbaImage, background: Background, alloc: Planes): Float32Array[] {
  const n = image.width * image.height;
  const planes = [alloc('r0', n), alloc('g0', n), alloc('b0', n)];
  const [r, g, b] = planes as [Float32Array, Float32Array, Float32Array];
  const { data } = image;
  if (background === 'none') {
    for (let p = 0, i = 0; p < n; p += 1, i += 4) {
      r[p] = TO_LINEAR[data[i]!]!;
      g[p] = TO_LINEAR[data[i + 1]!]!;
      b[p] = TO_LINEAR[data[i + 2]!]!;
    }
    return planes;
  }
  const white = background === 'white';
  for (let p = 0, i = 0; p < n; p += 1, i += 4) {
    const alpha = data[i + 3]! / 255;
    const under = white ? 1 - alpha : 0;
    r[p] = TO_LINEAR[linearToSrgb8(TO_LINEAR[data[i]!]! * alpha + under)]!;
    g[p] = TO_LINEAR[linearToSrgb8(TO_LINEAR[data[i + 1]!]! * alpha + under)]!;
    b[p] = TO_LINEAR[linearToSrgb8(TO_LINEAR[data[i + 2]!]! * alpha + under)]!;
  }
  return planes;
}

/** The next scale: 2×2 box average, odd last row/column dropped. */
function halve(planes: Float32Array[], width: number, height: number, scale: number, alloc: Planes): { planes: Float32Array[]; width: number; height: number } {
  const w = width >> 1;
  const h = height >> 1;
  const out = planes.map((_, c) => alloc(`rgb${c}:${scale}`, w * h));
  for (let c = 0; c < planes.length; c += 1) {
    const src = planes[c]!;
    const dst = out[c]!;
    for (let y = 0; y < h; y += 1) {
      const r0 = 2 * y * width;
      const r1 = r0 + width;
      for (let x = 0; x < w; x += 1) {
        const i = 2 * x;
        dst[y * w + x] = (src[r0 + i]! + src[r0 + i + 1]! + src[r1 + i]! + src[r1 + i + 1]!) * 0.25;
      }
    }
  }
  return { planes: out, width: w, height: h };
}

/**
 * f(t) of SPEC §9 step 4. The cube root is two Halley steps from the classic bit-level first guess: exact to
 * double precision over the range that reaches it (t > 216/24389), and measurably faster than `Math.cbrt`, which
 * is a quarter of the whole comparison otherwise.
 */
const CBRT_F32 = new Float32Array(1);
const CBRT_U32 = new Uint32Array(CBRT_F32.buffer);
function labF(t: number): number {
  if (t <= EPSILON) return t * KAPPA_OVER_116;
  CBRT_F32[0] = t;
  CBRT_U32[0] = CBRT_U32[0]! / 3 + 709921077;
  let y = CBRT_F32[0];
  let y3 = y * y * y;
  y = (y * (y3 + 2 * t)) / (2 * y3 + t);
  y3 = y * y * y;
  y = (y * (y3 + 2 * t)) / (2 * y3 + t);
  return y - 16 / 116;
}

/** Step 4: linear RGB → L, a, b planes. */
function toLab(planes: Float32Array[], n: number, scale: number, alloc: Planes): [Float32Array, Float32Array, Float32Array] {
  const [r, g, b] = planes as [Float32Array, Float32Array, Float32Array];
  const L = alloc(`L:${scale}`, n);
  const A = alloc(`a:${scale}`, n);
  const B = alloc(`b:${scale}`, n);
  for (let i = 0; i < n; i += 1) {
    const R = r[i]!;
    const G = g[i]!;
    const Bl = b[i]!;
    const fx = labF((0.4124 * R + 0.3576 * G + 0.1805 * Bl) / 0.9505);
    const fy = labF(0.2126 * R + 0.7152 * G + 0.0722 * Bl);
    const fz = labF((0.0193 * R + 0.1192 * G + 0.9505 * Bl) / 1.089);
    L[i] = 1.05 * fy;
    A[i] = (500 / 220) * (fx - fy) + 86.2 / 220;
    B[i] = (200 / 220) * (fy - fz) + 107.9 / 220;
  }
  return [L, A, B];
}

/** Scratch buffers for blurring, sized for scale 0 and reused for every plane and scale. */
type Plane = Float32Array | Float64Array;

class Blur {
  private readonly tmp: Float32Array;
  constructor(size: number) {
    this.tmp = new Float32Array(size);
  }

  /**
   * Step 5: the 3-tap kernel with clamped edges, applied twice, horizontally and vertically. Both axes commute,
   * so each axis gets its two applications fused into one 5-tap pass (the kernel convolved with itself); the
   * two pixels at each edge, where clamping makes the fused kernel differ, are computed as the two 3-tap passes
   * would. `src` may be `dst`.
   */
  run<T extends Plane>(src: T, dst: T, width: number, height: number): T {
    if (width < 4 || height < 4) {
      this.pass3(src, dst, width, height);
      this.pass3(dst, dst, width, height);
      return dst;
    }
    const tmp = this.tmp;
    for (let y = 0; y < height; y += 1) fusedRow(src, tmp, y * width, width);
    fusedColumns(tmp, dst, width, height);
    return dst;
  }

  /** One 3-tap pass on both axes (for images too small for the fused pass). */
  private pass3(src: Plane, dst: Plane, width: number, height: number): void {
    const tmp = this.tmp;
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const row = y * width;
        tmp[row + x] = KERNEL_SIDE * (src[row + Math.max(0, x - 1)]! + src[row + Math.min(width - 1, x + 1)]!) + KERNEL_CENTRE * src[row + x]!;
      }
    }
    for (let y = 0; y < height; y += 1) {
      const up = Math.max(0, y - 1) * width;
      const down = Math.min(height - 1, y + 1) * width;
      for (let x = 0; x < width; x += 1) {
        dst[y * width + x] = KERNEL_SIDE * (tmp[up + x]! + tmp[down + x]!) + KERNEL_CENTRE * tmp[y * width + x]!;
      }
    }
  }
}

const A = KERNEL_SIDE;
const B = KERNEL_CENTRE;
/** The 3-tap kernel convolved with itself. */
const K2 = A * A;
const K1 = 2 * A * B;
const K0 = B * B + 2 * A * A;

/** The 3-tap kernel applied twice along one row of `count` (≥ 4) values starting at `start`. */
function fusedRow(src: Plane, dst: Plane, start: number, count: number): void {
  const last = start + count - 1;
  // The two values at each edge, as two clamped 3-tap passes give them.
  const t0 = (A + B) * src[start]! + A * src[start + 1]!;
  const t1 = A * src[start]! + B * src[start + 1]! + A * src[start + 2]!;
  const t2 = A * src[start + 1]! + B * src[start + 2]! + A * src[start + 3]!;
  const v0 = (A + B) * src[last]! + A * src[last - 1]!;
  const v1 = A * src[last]! + B * src[last - 1]! + A * src[last - 2]!;
  const v2 = A * src[last - 1]! + B * src[last - 2]! + A * src[last - 3]!;
  // A sliding window: one load per pixel instead of five.
  let m2 = src[start]!;
  let m1 = src[start + 1]!;
  let c0 = src[start + 2]!;
  let p1 = src[start + 3]!;
  for (let p = start + 2; p < last - 1; p += 1) {
    const p2 = src[p + 2]!;
    dst[p] = K2 * (m2 + p2) + K1 * (m1 + p1) + K0 * c0;
    m2 = m1;
    m1 = c0;
    c0 = p1;
    p1 = p2;
  }
  dst[start] = (A + B) * t0 + A * t1;
  dst[start + 1] = A * t0 + B * t1 + A * t2;
  dst[last] = (A + B) * v0 + A * v1;
  dst[last - 1] = A * v0 + B * v1 + A * v2;
}

/** The same down the columns, row by row so that memory is read in order (height ≥ 4). */
function fusedColumns(src: Plane, dst: Plane, width: number, height: number): void {
  const w = width;
  for (let y = 2; y < height - 2; y += 1) {
    const row = y * w;
    for (let p = row; p < row + w; p += 1) {
      dst[p] = K2 * (src[p - 2 * w]! + src[p + 2 * w]!) + K1 * (src[p - w]! + src[p + w]!) + K0 * src[p]!;
    }
  }
  const r1 = w;
  const r2 = 2 * w;
  const r3 = 3 * w;
  const l0 = (height - 1) * w;
  const l1 = l0 - w;
  const l2 = l1 - w;
  const l3 = l2 - w;
  for (let x = 0; x < w; x += 1) {
    const t0 = (A + B) * src[x]! + A * src[r1 + x]!;
    const t1 = A * src[x]! + B * src[r1 + x]! + A * src[r2 + x]!;
    const t2 = A * src[r1 + x]! + B * src[r2 + x]! + A * src[r3 + x]!;
    const v0 = (A + B) * src[l0 + x]! + A * src[l1 + x]!;
    const v1 = A * src[l0 + x]! + B * src[l1 + x]! + A * src[l2 + x]!;
    const v2 = A * src[l1 + x]! + B * src[l2 + x]! + A * src[l3 + x]!;
    dst[x] = (A + B) * t0 + A * t1;
    dst[r1 + x] = A * t0 + B * t1 + A * t2;
    dst[l0 + x] = (A + B) * v0 + A * v1;
    dst[l1 + x] = A * v0 + B * v1 + A * v2;
  }
}

/**
 * One scale of one image, ready to compare: planes (a, b pre-blurred), each plane's blur (μ), and the blur of
 * the squares summed over the planes. Step 6 only needs the plane average of blur(x²) and blur(x·y), and the
 * blur is linear: blurring the sum once gives the same as summing three blurs, at a third of the cost.
 */
interface PreparedScale {
  readonly width: number;
  readonly height: number;
  readonly planes: Float32Array[];
  readonly mu: Float32Array[];
  readonly squares: Float32Array;
}

/** Σ over the planes of x·y, per pixel. */
function productSum(x: Float32Array[], y: Float32Array[], dst: Float32Array): Float32Array {
  const [x0, x1, x2] = x as [Float32Array, Float32Array, Float32Array];
  const [y0, y1, y2] = y as [Float32Array, Float32Array, Float32Array];
  for (let i = 0; i < dst.length; i += 1) dst[i] = x0[i]! * y0[i]! + x1[i]! * y1[i]! + x2[i]! * y2[i]!;
  return dst;
}

function prepareScales(image: RgbaImage, background: Background, alloc: Planes, blur: Blur): PreparedScale[] {
  const scales: PreparedScale[] = [];
  let level = { planes: linearPlanes(image, background, alloc), width: image.width, height: image.height };
  for (;;) {
    const { width, height } = level;
    const n = width * height;
    const lab = toLab(level.planes, n, scales.length, alloc);
    blur.run(lab[1], lab[1], width, height);
    blur.run(lab[2], lab[2], width, height);
    const squares = productSum(lab, lab, alloc(`sq:${scales.length}`, n));
    scales.push({
      width,
      height,
      planes: lab,
      mu: lab.map((p, c) => blur.run(p, alloc(`mu${c}:${scales.length}`, n), width, height)),
      squares: blur.run(squares, squares, width, height),
    });
    if (scales.length >= MAX_SCALES || width < MIN_SIDE || height < MIN_SIDE) break;
    level = halve(level.planes, width, height, scales.length, alloc);
  }
  return scales;
}

/** Steps 6–7 for one scale: the pooled score. */
function scaleScore(ref: PreparedScale, cand: PreparedScale, n: number, index: number, blur: Blur, xy: Float32Array, ssim: Float32Array): number {
  const { width, height } = ref;
  const cross = blur.run(productSum(ref.planes, cand.planes, xy), xy, width, height);
  const [m1L, m1A, m1B] = ref.mu as [Float32Array, Float32Array, Float32Array];
  const [m2L, m2A, m2B] = cand.mu as [Float32Array, Float32Array, Float32Array];
  const q1 = ref.squares;
  const q2 = cand.squares;
  let sum = 0;
  for (let i = 0; i < n; i += 1) {
    const aL = m1L[i]!, aA = m1A[i]!, aB = m1B[i]!;
    const bL = m2L[i]!, bA = m2A[i]!, bB = m2B[i]!;
    // The six terms averaged over the planes (SPEC §9 step 6), then one SSIM.
    const m11 = (aL * aL + aA * aA + aB * aB) / 3;
    const m22 = (bL * bL + bA * bA + bB * bB) / 3;
    const m12 = (aL * bL + aA * bA + aB * bB) / 3;
    const s11 = q1[i]! / 3 - m11;
    const s22 = q2[i]! / 3 - m22;
    const s12 = cross[i]! / 3 - m12;
    const value = ((2 * m12 + C1) * (2 * s12 + C2)) / ((m11 + m22 + C1) * (s11 + s22 + C2));
    ssim[i] = value;
    sum += value;
  }
  const avg = Math.max(0, sum / n) ** 0.5 ** index;
  let deviation = 0;
  for (let i = 0; i < n; i += 1) deviation += Math.abs(avg - ssim[i]!);
  return 1 - deviation / n;
}

function compareScales(ref: PreparedScale[], cand: PreparedScale[], blur: Blur, alloc: Planes): number {
  const size = ref[0]!.width * ref[0]!.height;
  const xy = alloc('xy', size);
  const ssim = alloc('ssim', size);
  let weighted = 0;
  let weights = 0;
  for (let s = 0; s < ref.length; s += 1) {
    const r = ref[s]!;
    const n = r.width * r.height;
    weighted += SCALE_WEIGHTS[s]! * scaleScore(r, cand[s]!, n, s, blur, xy.subarray(0, n), ssim.subarray(0, n));
    weights += SCALE_WEIGHTS[s]!;
  }
  return 1 / (weighted / weights) - 1;
}

/** The original's side of every comparison, prepared once per background as candidates need it. */
export class DssimReference {
  private readonly prepared = new Map<Background, PreparedScale[]>();
  private readonly blur: Blur;
  private readonly scratch = scratchPlanes();
  readonly transparent: boolean;

  constructor(readonly image: RgbaImage) {
    this.transparent = hasTransparency(image);
    this.blur = new Blur(image.width * image.height);
  }

  private candidate(image: RgbaImage, background: Background): PreparedScale[] {
    return prepareScales(image, background, this.scratch, this.blur);
  }

  private side(background: Background): PreparedScale[] {
    let scales = this.prepared.get(background);
    if (!scales) {
      scales = prepareScales(this.image, background, freshPlanes, this.blur);
      this.prepared.set(background, scales);
    }
    return scales;
  }

  /** SPEC §9: the DSSIM of `candidate` against the original. Sizes must be equal. */
  compare(candidate: RgbaImage): number {
    if (candidate.width !== this.image.width || candidate.height !== this.image.height) {
      throw new RangeError(`DSSIM needs equal sizes: ${this.image.width}×${this.image.height} vs ${candidate.width}×${candidate.height}`);
    }
    // Step 2: alpha anywhere → compare over black and over white, keep the worse.
    if (this.transparent || hasTransparency(candidate)) {
      return Math.max(
        compareScales(this.side('black'), this.candidate(candidate, 'black'), this.blur, this.scratch),
        compareScales(this.side('white'), this.candidate(candidate, 'white'), this.blur, this.scratch),
      );
    }
    return compareScales(this.side('none'), this.candidate(candidate, 'none'), this.blur, this.scratch);
  }
}

export function dssim(original: RgbaImage, candidate: RgbaImage): number {
  return new DssimReference(original).compare(candidate);
}
