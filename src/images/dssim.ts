import { hasTransparency, type RgbaImage } from './rgba.js';

/**
 * DSSIM as SPEC §9 defines it: multi-scale, in a Lab-like space, SSIM terms averaged over the three planes
 * before the SSIM formula, each scale pooled by its deviation from its own mean. 0 for identical images.
 *
 * The original's side (steps 1–5) is prepared once (`DssimReference`) and reused for every candidate. Planes
 * are Float32, sums double. No allocation per pixel.
 *
 * Whole-image planes cost about 103 bytes per pixel (5 GB at 50 MP). An image whose planes do not fit the
 * reference's allowance is compared in horizontal strips instead (see "Strips" below), to the same bit.
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

type Background = 'none' | 'black' | 'white' | 'grey';

/** What a background adds in linear light where a pixel is transparent (mid-grey: sRGB 128). */
const UNDER: Readonly<Record<Exclude<Background, 'none'>, number>> = { black: 0, white: 1, grey: TO_LINEAR[128]! };

/**
 * The backgrounds a transparent pair is judged over. SPEC §9 step 2 names black and white; slimproxy's acceptance
 * adds mid-grey: SSIM divides by local contrast, which a grey page lowers, so an edge that is fine over black and
 * over white can be visibly worse over grey (a 28×28 icon: WebP q41 measured 0.00200 over black and white, 0.00438
 * over grey, 0.00261 as Chromium showed it on the demo's grey header).
 */
const ACCEPTANCE: readonly Background[] = ['black', 'white', 'grey'];
const SPEC_ONLY: readonly Background[] = ['black', 'white'];

/**
 * Where planes come from: fresh arrays for the original's side (kept), or the same scratch arrays again for
 * every candidate (a reference compares one candidate at a time), so comparing allocates nothing.
 */
type Planes = (key: string, length: number) => Float32Array;

const freshPlanes: Planes = (_key, length) => new Float32Array(length);

/** The candidate's planes, allocated once and kept for the next candidate. */
class Scratch {
  private readonly arrays = new Map<string, Float32Array>();
  readonly alloc: Planes = (key, length) => {
    let array = this.arrays.get(key);
    if (!array || array.length !== length) {
      array = new Float32Array(length);
      this.arrays.set(key, array);
    }
    return array;
  };

  get bytes(): number {
    let total = 0;
    for (const array of this.arrays.values()) total += array.byteLength;
    return total;
  }
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
  const colour = UNDER[background];
  for (let p = 0, i = 0; p < n; p += 1, i += 4) {
    const alpha = data[i + 3]! / 255;
    const under = colour * (1 - alpha);
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
 * f(t) of SPEC §9 step 4. The cube root is one Halley step from a table of cube roots at the middle of each
 * 1/64-octave cell of t (t > 216/24389 and at most 1 here): the guess is within 0.3%, the step leaves about
 * 1e-8, under the Float32 the planes keep. (`Math.cbrt` was a quarter of the whole comparison; two steps from
 * the classic bit-level guess, the same accuracy, cost a third more than this.)
 */
const CBRT_F32 = new Float32Array(1);
const CBRT_U32 = new Uint32Array(CBRT_F32.buffer);
/** Float32 bits >>> CELL_SHIFT: the exponent and the top 6 bits of the mantissa. */
const CELL_SHIFT = 17;
/** The first cell: exponent −7 (t from 2^−7, below EPSILON). */
const FIRST_CELL = (127 - 7) << 6;
const CBRT_GUESS = Float64Array.from({ length: 8 << 6 }, (_, i) => {
  CBRT_U32[0] = ((FIRST_CELL + i) << CELL_SHIFT) | (1 << (CELL_SHIFT - 1));
  return Math.cbrt(CBRT_F32[0]!);
});
function labF(t: number): number {
  if (t <= EPSILON) return t * KAPPA_OVER_116;
  if (t >= 2) return Math.cbrt(t) - 16 / 116;
  CBRT_F32[0] = t;
  let y = CBRT_GUESS[(CBRT_U32[0]! >>> CELL_SHIFT) - FIRST_CELL]!;
  const y3 = y * y * y;
  y = (y * (y3 + 2 * t)) / (2 * y3 + t);
  return y - 16 / 116;
}

/** Step 4: linear RGB → L, a, b planes. */
function toLab(planes: Float32Array[], n: number, scale: number, alloc: Planes): [Float32Array, Float32Array, Float32Array] {
  const L = alloc(`L:${scale}`, n);
  const A = alloc(`a:${scale}`, n);
  const B = alloc(`b:${scale}`, n);
  labRange(planes, 0, n, L, A, B);
  return [L, A, B];
}

/** Scratch buffers for blurring, sized for scale 0 and reused for every plane and scale. */
type Plane = Float32Array | Float64Array;

class Blur {
  private readonly tmp: Float32Array;
  constructor(size: number) {
    this.tmp = new Float32Array(size);
  }

  get bytes(): number {
    return this.tmp.byteLength;
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

interface LinearLevel {
  readonly planes: Float32Array[];
  readonly width: number;
  readonly height: number;
}

/** Steps 2–3: the linear planes of every scale (cheap beside what each scale's comparison costs). */
function linearPyramid(image: RgbaImage, background: Background, alloc: Planes): LinearLevel[] {
  const levels: LinearLevel[] = [{ planes: linearPlanes(image, background, alloc), width: image.width, height: image.height }];
  for (;;) {
    const { planes, width, height } = levels.at(-1)!;
    if (levels.length >= MAX_SCALES || width < MIN_SIDE || height < MIN_SIDE) return levels;
    levels.push(halve(planes, width, height, levels.length, alloc));
  }
}

/** Steps 4–5 for one scale. */
function prepareScale(level: LinearLevel, index: number, alloc: Planes, blur: Blur): PreparedScale {
  const { width, height } = level;
  const n = width * height;
  const lab = toLab(level.planes, n, index, alloc);
  blur.run(lab[1], lab[1], width, height);
  blur.run(lab[2], lab[2], width, height);
  const squares = productSum(lab, lab, alloc(`sq:${index}`, n));
  return {
    width,
    height,
    planes: lab,
    mu: lab.map((p, c) => blur.run(p, alloc(`mu${c}:${index}`, n), width, height)),
    squares: blur.run(squares, squares, width, height),
  };
}

function prepareScales(image: RgbaImage, background: Background, alloc: Planes, blur: Blur): PreparedScale[] {
  return linearPyramid(image, background, alloc).map((level, index) => prepareScale(level, index, alloc, blur));
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

/** How much more SSIM scale 0 typically loses than scale 1 (measured: 3 puts the estimate closest). */
const FINEST_LOSS = 3;

/**
 * Steps 4–8 for a candidate against the original's prepared scales. With `above`, the coarse scales go first
 * (a quarter of the pixels): a scale's score is at most 1, so if even a perfect scale 0 would leave the DSSIM
 * over `above`, that bound (over `above`, below the true value) is the answer and scale 0 is never computed.
 * Otherwise the scores are summed in scale order as always, so the value is the same to the bit.
 */
function compareScales(ref: PreparedScale[], candidate: RgbaImage, background: Background, blur: Blur, alloc: Planes, above = Infinity): number {
  const size = ref[0]!.width * ref[0]!.height;
  const xy = alloc('xy', size);
  const ssim = alloc('ssim', size);
  const levels = linearPyramid(candidate, background, alloc);
  const scores: number[] = [];
  const score = (s: number) => {
    const r = ref[s]!;
    const n = r.width * r.height;
    scores[s] = scaleScore(r, prepareScale(levels[s]!, s, alloc, blur), n, s, blur, xy.subarray(0, n), ssim.subarray(0, n));
  };
  let weights = 0;
  for (let s = 0; s < ref.length; s += 1) weights += SCALE_WEIGHTS[s]!;
  if (above < Infinity && ref.length > 1) {
    let best = SCALE_WEIGHTS[0];
    for (let s = 1; s < ref.length; s += 1) {
      score(s);
      best += SCALE_WEIGHTS[s]! * scores[s]!;
    }
    const least = 1 / (best / weights) - 1;
    if (least > above) {
      // Over `above` for sure. What is returned is an estimate, for searches that aim by it (the bound itself,
      // scale 0 perfect, read 9–22% low and sent a search astray): scale 0 losing `FINEST_LOSS` times what scale 1
      // loses, within ±8% of the true value on WebP photos, drawings and textures from quality 5 to 60.
      const estimate = 1 / ((best - SCALE_WEIGHTS[0] * FINEST_LOSS * (1 - scores[1]!)) / weights) - 1;
      return Math.max(least, estimate);
    }
  } else {
    for (let s = 1; s < ref.length; s += 1) score(s);
  }
  score(0);
  let weighted = 0;
  for (let s = 0; s < ref.length; s += 1) weighted += SCALE_WEIGHTS[s]! * scores[s]!;
  return 1 / (weighted / weights) - 1;
}

/*
 * ─── Strips ───
 *
 * The same computation, a band of scale-0 rows at a time, for images whose whole planes do not fit. Every value
 * is computed by the same expression on the same operands as on the whole image, so the result is identical to
 * the bit (the vectors and the test at 12 MP check it):
 *
 * - a strip owns, at scale s, the rows y with y·2^s in its scale-0 rows (`core`): the cores partition every scale
 *   in order, so each scale's SSIM sum adds the same values in the same order, carried from strip to strip;
 * - a blurred value needs two rows of the plane it blurs on each side, and step 5 blurs twice in a chain (a and b
 *   pre-blurred, then μ, blur(x²), blur(x·y)), so the Lab rows of a strip are its core and four rows of halo;
 *   rows near the image's top and bottom get the clamped-edge formulas exactly as the whole image does;
 * - a scale's linear rows are 2×2 averages of the previous scale's, so each scale keeps a window of linear rows
 *   (its own Lab rows and those the next scale averages) that slides down: rows two strips share are moved, not
 *   recomputed. Strip boundaries need no alignment: an odd row height works (tests use 1, 7, 37…);
 * - pooling needs each scale's mean before the deviations from it: the SSIM maps are kept (Float32, 5.3 bytes
 *   per pixel over the scales, as the whole image keeps them too), deviations are summed after the last strip.
 */

/** Rows [lo, hi) of one scale. */
interface Rows {
  readonly lo: number;
  readonly hi: number;
}

interface Size {
  readonly width: number;
  readonly height: number;
}

const NO_ROWS: Rows = { lo: 0, hi: 0 };
/** Rows of halo a strip's Lab planes need: two blurs, each two rows deep. */
const HALO = 4;

/** The size of every scale (step 3's rule, as `prepareScales` applies it). */
function scaleSizes(width: number, height: number): Size[] {
  const sizes: Size[] = [{ width, height }];
  let w = width;
  let h = height;
  while (sizes.length < MAX_SCALES && w >= MIN_SIDE && h >= MIN_SIDE) {
    w >>= 1;
    h >>= 1;
    sizes.push({ width: w, height: h });
  }
  return sizes;
}

const isEmpty = (rows: Rows) => rows.lo >= rows.hi;
const hull = (a: Rows, b: Rows): Rows => (isEmpty(a) ? b : isEmpty(b) ? a : { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) });

/** The rows one blur gives exactly from `rows`: two fewer at each side, except at the plane's own edges. */
function blurred(rows: Rows, height: number): Rows {
  return { lo: rows.lo === 0 ? 0 : rows.lo + 2, hi: rows.hi === height ? height : rows.hi - 2 };
}

/** One strip's rows at every scale. */
interface Strip {
  /** The rows whose SSIM the strip computes. */
  readonly core: Rows[];
  /** The core with its halo (clamped to the scale): the rows steps 4–5 work on. */
  readonly lab: Rows[];
  /** The linear rows the strip needs: its Lab rows, and those the next scale's linear rows average. */
  readonly linear: Rows[];
}

function planStrip(sizes: Size[], y0: number, y1: number): Strip {
  const core = sizes.map(({ height }, s): Rows => ({ lo: Math.min(height, Math.ceil(y0 / 2 ** s)), hi: Math.min(height, Math.ceil(y1 / 2 ** s)) }));
  const lab = core.map((rows, s): Rows => (isEmpty(rows) ? NO_ROWS : { lo: Math.max(0, rows.lo - HALO), hi: Math.min(sizes[s]!.height, rows.hi + HALO) }));
  const linear: Rows[] = [];
  for (let s = sizes.length - 1; s >= 0; s -= 1) {
    const next = linear[0] ?? NO_ROWS;
    linear.unshift(hull(lab[s]!, isEmpty(next) ? NO_ROWS : { lo: 2 * next.lo, hi: 2 * next.hi }));
  }
  return { core, lab, linear };
}

/** An image cut into strips of `rows` scale-0 rows, and the largest buffers any strip needs. */
interface StripPlan {
  readonly rows: number;
  readonly sizes: Size[];
  readonly strips: Strip[];
  /** Per scale, the most linear rows a strip holds. */
  readonly linearRows: number[];
  /** The most Lab pixels (rows × width) of one scale of one strip. */
  readonly labPixels: number;
}

function planStrips(width: number, height: number, rows: number): StripPlan {
  const sizes = scaleSizes(width, height);
  const strips: Strip[] = [];
  for (let y0 = 0; y0 < height; y0 += rows) strips.push(planStrip(sizes, y0, Math.min(height, y0 + rows)));
  const span = (r: Rows) => Math.max(0, r.hi - r.lo);
  const linearRows = sizes.map((_, s) => Math.max(...strips.map((strip) => span(strip.linear[s]!))));
  const labPixels = Math.max(...strips.flatMap((strip) => sizes.map(({ width: w }, s) => span(strip.lab[s]!) * w)));
  return { rows, sizes, strips, linearRows, labPixels };
}

/** Steps 2–3 for `count` pixels of the image from pixel `from`, into the planes from index `at`. */
function linearRange(image: RgbaImage, background: Background, planes: Float32Array[], from: number, count: number, at: number): void {
  const [r, g, b] = planes as [Float32Array, Float32Array, Float32Array];
  const { data } = image;
  const end = at + count;
  if (background === 'none') {
    for (let p = at, i = from * 4; p < end; p += 1, i += 4) {
      r[p] = TO_LINEAR[data[i]!]!;
      g[p] = TO_LINEAR[data[i + 1]!]!;
      b[p] = TO_LINEAR[data[i + 2]!]!;
    }
    return;
  }
  const colour = UNDER[background];
  for (let p = at, i = from * 4; p < end; p += 1, i += 4) {
    const alpha = data[i + 3]! / 255;
    const under = colour * (1 - alpha);
    r[p] = TO_LINEAR[linearToSrgb8(TO_LINEAR[data[i]!]! * alpha + under)]!;
    g[p] = TO_LINEAR[linearToSrgb8(TO_LINEAR[data[i + 1]!]! * alpha + under)]!;
    b[p] = TO_LINEAR[linearToSrgb8(TO_LINEAR[data[i + 2]!]! * alpha + under)]!;
  }
}

/** `halve` for the rows `rows` of the next scale; `src` holds the previous scale from row `srcLo`, `dst` from `dstLo`. */
function halveRows(src: Float32Array[], srcWidth: number, srcLo: number, dst: Float32Array[], dstLo: number, rows: Rows): void {
  const w = srcWidth >> 1;
  for (let c = 0; c < src.length; c += 1) {
    const from = src[c]!;
    const to = dst[c]!;
    for (let y = rows.lo; y < rows.hi; y += 1) {
      const r0 = (2 * y - srcLo) * srcWidth;
      const r1 = r0 + srcWidth;
      const out = (y - dstLo) * w;
      for (let x = 0; x < w; x += 1) {
        const i = 2 * x;
        to[out + x] = (from[r0 + i]! + from[r0 + i + 1]! + from[r1 + i]! + from[r1 + i + 1]!) * 0.25;
      }
    }
  }
}

/** `toLab` for `count` pixels, from index `from` of the linear planes to index 0 of L, a, b. */
function labRange(planes: Float32Array[], from: number, count: number, L: Float32Array, A: Float32Array, B: Float32Array): void {
  const [r, g, b] = planes as [Float32Array, Float32Array, Float32Array];
  for (let o = 0, i = from; o < count; o += 1, i += 1) {
    const R = r[i]!;
    const G = g[i]!;
    const Bl = b[i]!;
    const fx = labF((0.4124 * R + 0.3576 * G + 0.1805 * Bl) / 0.9505);
    const fy = labF(0.2126 * R + 0.7152 * G + 0.0722 * Bl);
    const fz = labF((0.0193 * R + 0.1192 * G + 0.9505 * Bl) / 1.089);
    L[o] = 1.05 * fy;
    A[o] = (500 / 220) * (fx - fy) + 86.2 / 220;
    B[o] = (200 / 220) * (fy - fz) + 107.9 / 220;
  }
}

/** `productSum` for `count` pixels: x from index `xAt`, y from `yAt`, into `dst` from `dstAt`. */
function productRange(x: Float32Array[], xAt: number, y: Float32Array[], yAt: number, dst: Float32Array, dstAt: number, count: number): void {
  const [x0, x1, x2] = x as [Float32Array, Float32Array, Float32Array];
  const [y0, y1, y2] = y as [Float32Array, Float32Array, Float32Array];
  for (let k = 0; k < count; k += 1) {
    const i = xAt + k;
    const j = yAt + k;
    dst[dstAt + k] = x0[i]! * y0[j]! + x1[i]! * y1[j]! + x2[i]! * y2[j]!;
  }
}

/**
 * Step 5 on the rows `rows` of a plane `height` rows tall whose buffers hold it from row `base` on; `src` may be
 * `dst`. Returns the rows written: those whose value is exactly the whole plane's blur (`blurred(rows)`).
 */
function blurRows(src: Float32Array, dst: Float32Array, tmp: Float32Array, width: number, height: number, base: number, rows: Rows): Rows {
  const out = blurred(rows, height);
  for (let y = rows.lo; y < rows.hi; y += 1) fusedRow(src, tmp, (y - base) * width, width);
  const w = width;
  for (let y = Math.max(out.lo, 2); y < Math.min(out.hi, height - 2); y += 1) {
    const row = (y - base) * w;
    for (let p = row; p < row + w; p += 1) {
      dst[p] = K2 * (tmp[p - 2 * w]! + tmp[p + 2 * w]!) + K1 * (tmp[p - w]! + tmp[p + w]!) + K0 * tmp[p]!;
    }
  }
  // The two rows at each edge, where clamping makes the fused kernel differ (only those asked for: a short
  // window's other rows may not be there).
  for (let y = out.lo; y < Math.min(out.hi, 2); y += 1) edgeRow(tmp, dst, w, -base * w, w, y);
  for (let y = Math.max(out.lo, height - 2); y < out.hi; y += 1) edgeRow(tmp, dst, w, (height - 1 - base) * w, -w, height - 1 - y);
  return out;
}

/**
 * One of the two rows at an edge, as `fusedColumns` computes them: `first` is the index of the edge row, `step`
 * the way into the plane (+width at the top, −width at the bottom), `k` 0 for the edge row, 1 for the next.
 */
function edgeRow(src: Float32Array, dst: Float32Array, width: number, first: number, step: number, k: number): void {
  const at = first + k * step;
  const r1 = first + step;
  const r2 = r1 + step;
  const r3 = r2 + step;
  for (let x = 0; x < width; x += 1) {
    const t0 = (A + B) * src[first + x]! + A * src[r1 + x]!;
    const t1 = A * src[first + x]! + B * src[r1 + x]! + A * src[r2 + x]!;
    if (k === 0) {
      dst[at + x] = (A + B) * t0 + A * t1;
    } else {
      const t2 = A * src[r1 + x]! + B * src[r2 + x]! + A * src[r3 + x]!;
      dst[at + x] = A * t0 + B * t1 + A * t2;
    }
  }
}

/** Rows of one scale's prepared planes (`PreparedScale` without the size), held from row `lo` on. */
interface Window {
  readonly lo: number;
  readonly planes: Float32Array[];
  readonly mu: Float32Array[];
  readonly squares: Float32Array;
}

const floats = (length: number) => new Float32Array(length);

/**
 * One image's rows in flight: its linear rows at every scale (a window sliding down with the strips), and the
 * Lab planes of the scale being compared (one set for all scales: a scale is compared before the next is made).
 */
class ImageRows {
  private readonly linear: Float32Array[][];
  private readonly held: Rows[];
  private readonly window: Window;
  private image: RgbaImage = { width: 0, height: 0, data: new Uint8Array(0) };
  private background: Background = 'none';

  constructor(private readonly plan: StripPlan) {
    this.linear = plan.sizes.map(({ width }, s) => [0, 1, 2].map(() => floats(plan.linearRows[s]! * width)));
    this.held = plan.sizes.map(() => NO_ROWS);
    const n = plan.labPixels;
    this.window = { lo: 0, planes: [floats(n), floats(n), floats(n)], mu: [floats(n), floats(n), floats(n)], squares: floats(n) };
  }

  /** Starts on an image from its first strip. */
  begin(image: RgbaImage, background: Background): this {
    this.image = image;
    this.background = background;
    this.held.fill(NO_ROWS);
    return this;
  }

  /** What the constructor allocates. */
  static bytes(plan: StripPlan): number {
    return 4 * (plan.sizes.reduce((sum, { width }, s) => sum + 3 * plan.linearRows[s]! * width, 0) + 7 * plan.labPixels);
  }

  /** Moves scale `s`'s linear window to `want` (scale s − 1 already moved): shared rows are kept, others made. */
  advance(s: number, want: Rows): void {
    const { width } = this.plan.sizes[s]!;
    const held = this.held[s]!;
    const keep = { lo: Math.max(want.lo, held.lo), hi: Math.min(want.hi, held.hi) };
    if (isEmpty(keep)) {
      this.make(s, want, want);
    } else {
      for (const plane of this.linear[s]!) plane.copyWithin((keep.lo - want.lo) * width, (keep.lo - held.lo) * width, (keep.hi - held.lo) * width);
      this.make(s, { lo: want.lo, hi: keep.lo }, want);
      this.make(s, { lo: keep.hi, hi: want.hi }, want);
    }
    this.held[s] = want;
  }

  /** Linear rows `rows` of scale `s`, into its window about to hold `window`. */
  private make(s: number, rows: Rows, window: Rows): void {
    if (isEmpty(rows)) return;
    const { width } = this.plan.sizes[s]!;
    if (s === 0) {
      linearRange(this.image, this.background, this.linear[0]!, rows.lo * width, (rows.hi - rows.lo) * width, (rows.lo - window.lo) * width);
    } else {
      halveRows(this.linear[s - 1]!, this.plan.sizes[s - 1]!.width, this.held[s - 1]!.lo, this.linear[s]!, window.lo, rows);
    }
  }

  /** Steps 4–5 on the rows `rows` of scale `s` (its linear window moved there): the rows of `blurred(blurred(rows))` come out exact. */
  prepare(s: number, rows: Rows, tmp: Float32Array): Window {
    const { width, height } = this.plan.sizes[s]!;
    const { planes, mu, squares } = this.window;
    const [L, a, b] = planes as [Float32Array, Float32Array, Float32Array];
    labRange(this.linear[s]!, (rows.lo - this.held[s]!.lo) * width, (rows.hi - rows.lo) * width, L, a, b);
    const once = blurRows(a, a, tmp, width, height, rows.lo, rows);
    blurRows(b, b, tmp, width, height, rows.lo, rows);
    const at = (once.lo - rows.lo) * width;
    productRange(planes, at, planes, at, squares, at, (once.hi - once.lo) * width);
    blurRows(squares, squares, tmp, width, height, rows.lo, once);
    planes.forEach((plane, c) => blurRows(plane, mu[c]!, tmp, width, height, rows.lo, once));
    return { ...this.window, lo: rows.lo };
  }
}

/**
 * Steps 6–7 (before pooling) on a strip's core rows of one scale: blur(x·y) over the Lab rows, the SSIM of
 * each core pixel into the scale's map, and `sum` carried on with them.
 */
function scoreRows(ref: Window, cand: Window, size: Size, lab: Rows, core: Rows, work: { cross: Float32Array; tmp: Float32Array }, map: Float32Array, sum: number): number {
  const { width, height } = size;
  const { cross, tmp } = work;
  const once = blurred(lab, height);
  productRange(ref.planes, (once.lo - ref.lo) * width, cand.planes, (once.lo - cand.lo) * width, cross, (once.lo - lab.lo) * width, (once.hi - once.lo) * width);
  blurRows(cross, cross, tmp, width, height, lab.lo, once);
  const [m1L, m1A, m1B] = ref.mu as [Float32Array, Float32Array, Float32Array];
  const [m2L, m2A, m2B] = cand.mu as [Float32Array, Float32Array, Float32Array];
  const q1 = ref.squares;
  const q2 = cand.squares;
  const count = (core.hi - core.lo) * width;
  const r = (core.lo - ref.lo) * width;
  const c = (core.lo - cand.lo) * width;
  const x = (core.lo - lab.lo) * width;
  const m = core.lo * width;
  for (let k = 0; k < count; k += 1) {
    const i = r + k;
    const j = c + k;
    const aL = m1L[i]!, aA = m1A[i]!, aB = m1B[i]!;
    const bL = m2L[j]!, bA = m2A[j]!, bB = m2B[j]!;
    // As in `scaleScore`, term for term.
    const m11 = (aL * aL + aA * aA + aB * aB) / 3;
    const m22 = (bL * bL + bA * bA + bB * bB) / 3;
    const m12 = (aL * bL + aA * bA + aB * bB) / 3;
    const s11 = q1[i]! / 3 - m11;
    const s22 = q2[j]! / 3 - m22;
    const s12 = cross[x + k]! / 3 - m12;
    const value = ((2 * m12 + C1) * (2 * s12 + C2)) / ((m11 + m22 + C1) * (s11 + s22 + C2));
    map[m + k] = value;
    sum += value;
  }
  return sum;
}

/** Steps 7–8 from every scale's SSIM map and sum, as `scaleScore` and `compareScales` pool them. */
function poolScales(maps: Float32Array[], sums: number[]): number {
  let weighted = 0;
  let weights = 0;
  for (let s = 0; s < maps.length; s += 1) {
    const map = maps[s]!;
    const n = map.length;
    const avg = Math.max(0, sums[s]! / n) ** 0.5 ** s;
    let deviation = 0;
    for (let i = 0; i < n; i += 1) deviation += Math.abs(avg - map[i]!);
    weighted += SCALE_WEIGHTS[s]! * (1 - deviation / n);
    weights += SCALE_WEIGHTS[s]!;
  }
  return 1 / (weighted / weights) - 1;
}

/** The original's side of a strip comparison: planes kept for the whole image, or its pixels to redo them. */
type StripSide = { readonly kept: Window[] } | { readonly image: RgbaImage };

/**
 * The buffers of strip comparisons, made once and reused: made for every comparison, each set would wait for
 * the garbage collector, and two comparisons' worth were seen alive at once.
 */
class StripBuffers {
  readonly cand: ImageRows;
  private refRows: ImageRows | undefined;
  readonly cross: Float32Array;
  readonly tmp: Float32Array;
  /** Each scale's SSIM map: every value is written by the strips of each comparison. */
  readonly maps: Float32Array[];

  constructor(readonly plan: StripPlan) {
    this.cand = new ImageRows(plan);
    this.cross = floats(plan.labPixels);
    this.tmp = floats(plan.labPixels);
    this.maps = plan.sizes.map(({ width, height }) => floats(width * height));
  }

  /** The original's rows, when its planes are redone (only then allocated). */
  get ref(): ImageRows {
    this.refRows ??= new ImageRows(this.plan);
    return this.refRows;
  }

  get bytes(): number {
    const { plan } = this;
    return (this.refRows ? 2 : 1) * ImageRows.bytes(plan) + 4 * (2 * plan.labPixels) + this.maps.reduce((sum, map) => sum + map.byteLength, 0);
  }
}

/**
 * Scratch of strip comparisons, kept from one to the next. References of the same size compared one at a time
 * (an animation's frames) may share one: then only one comparison's worth exists.
 */
export class DssimWorkspace {
  private buffers: StripBuffers | undefined;

  /** The buffers for `plan`, made again only for another size or strip height. */
  for(plan: StripPlan): StripBuffers {
    const held = this.buffers;
    const [size] = plan.sizes;
    if (held && held.plan.rows === plan.rows && held.plan.sizes[0]!.width === size!.width && held.plan.sizes[0]!.height === size!.height) return held;
    // Let go of the old ones first: the garbage collector may run while the new ones are made.
    this.buffers = undefined;
    const buffers = new StripBuffers(plan);
    this.buffers = buffers;
    return buffers;
  }

  /** Bytes held (at most the plan's `peakBytes − keptBytes`). */
  get bytes(): number {
    return this.buffers?.bytes ?? 0;
  }
}

/** DSSIM of `candidate` over one background, strip by strip. */
function compareStrips(buffers: StripBuffers, side: StripSide, candidate: RgbaImage, background: Background): number {
  const { plan, maps } = buffers;
  const cand = buffers.cand.begin(candidate, background);
  const ref = 'image' in side ? buffers.ref.begin(side.image, background) : undefined;
  const sums = plan.sizes.map(() => 0);
  for (const strip of plan.strips) {
    for (let s = 0; s < plan.sizes.length && !isEmpty(strip.core[s]!); s += 1) {
      const lab = strip.lab[s]!;
      cand.advance(s, strip.linear[s]!);
      const candWindow = cand.prepare(s, lab, buffers.tmp);
      let refWindow: Window;
      if (ref) {
        ref.advance(s, strip.linear[s]!);
        refWindow = ref.prepare(s, lab, buffers.tmp);
      } else {
        refWindow = (side as { readonly kept: Window[] }).kept[s]!;
      }
      sums[s] = scoreRows(refWindow, candWindow, plan.sizes[s]!, lab, strip.core[s]!, buffers, maps[s]!, sums[s]!);
    }
  }
  return poolScales(maps, sums);
}

/** The original's prepared planes for the whole image, made strip by strip (what `prepareScales` keeps). */
function keepScales(buffers: StripBuffers, image: RgbaImage, background: Background): Window[] {
  const { plan, tmp } = buffers;
  const kept = plan.sizes.map(({ width, height }): Window => {
    const n = width * height;
    return { lo: 0, planes: [floats(n), floats(n), floats(n)], mu: [floats(n), floats(n), floats(n)], squares: floats(n) };
  });
  // The candidate's rows: the original's planes are made before any candidate's.
  const rows = buffers.cand.begin(image, background);
  for (const strip of plan.strips) {
    for (let s = 0; s < plan.sizes.length && !isEmpty(strip.core[s]!); s += 1) {
      rows.advance(s, strip.linear[s]!);
      copyRows(rows.prepare(s, strip.lab[s]!, tmp), kept[s]!, strip.core[s]!, plan.sizes[s]!.width);
    }
  }
  return kept;
}

function copyRows(from: Window, to: Window, rows: Rows, width: number): void {
  const arrays = (w: Window) => [...w.planes, ...w.mu, w.squares];
  const source = arrays(from);
  arrays(to).forEach((array, i) => array.set(source[i]!.subarray((rows.lo - from.lo) * width, (rows.hi - from.lo) * width), rows.lo * width));
}

const windowBytes = (window: Window) => [...window.planes, ...window.mu, window.squares].reduce((sum, array) => sum + array.byteLength, 0);

/*
 * ─── Plans: which layout, and what it costs ───
 */

/**
 * How a reference computes: on the whole image (fastest), or in strips of `rows` scale-0 rows, the original's
 * planes either kept for the whole image (`keep`, 37 bytes per pixel per background) or redone for every
 * candidate from its pixels (nothing kept; a comparison then costs about twice as much).
 */
export type DssimLayout = { readonly kind: 'whole' } | { readonly kind: 'strips'; readonly rows: number; readonly keep: boolean };

export interface DssimPlan {
  readonly layout: DssimLayout;
  /** Bytes held between comparisons, beyond the image itself (prepared planes, scratch kept for reuse). */
  readonly keptBytes: number;
  /** Bytes held at most while comparing, kept bytes included (the candidate's pixels not included). */
  readonly peakBytes: number;
}

/** What a reference may hold when its options do not say: the default `<limits max-experiment-memory>`. */
export const DEFAULT_DSSIM_BYTES = 2 ** 30;
/**
 * Strip heights tried, tallest first. Shorter strips need less memory but redo more halo rows (four per scale
 * per strip). Measured at 8660×800 (ms/MP, planes kept / redone): 16 rows 464 / 794, 32 rows 364 / 563, 64 rows
 * 292 / 595, 128 rows 344 / 506, 256 rows 286 / 589, the whole image 323: taller than 128 rows buys nothing.
 */
const STRIP_ROWS = [128, 64, 32, 16] as const;

/** Backgrounds a reference keeps planes for: black, white and grey for transparency, else none. */
const sidesFor = (transparent: boolean) => (transparent ? ACCEPTANCE.length : 1);

function wholeCost(width: number, height: number, transparent: boolean): DssimPlan {
  const sizes = scaleSizes(width, height);
  const pixels = sizes.reduce((sum, { width: w, height: h }) => sum + w * h, 0);
  const first = width * height;
  const second = sizes[1] ? sizes[1].width * sizes[1].height : 0;
  // Per background 7 planes a scale (L, a, b, three μ, blur of the squares); the candidate's scratch 10 a scale
  // (3 linear, 3 Lab, 3 μ, squares) and x·y, SSIM and the blur's buffer at scale 0.
  const keptBytes = 4 * (sidesFor(transparent) * 7 * pixels + 10 * pixels + 3 * first);
  // While a background is prepared, its linear planes of two scales at once, then dropped.
  return { layout: { kind: 'whole' }, keptBytes, peakBytes: keptBytes + 4 * 3 * (first + second) };
}

function stripCost(width: number, height: number, transparent: boolean, rows: number, keep: boolean): DssimPlan {
  const plan = planStrips(width, height, rows);
  const pixels = plan.sizes.reduce((sum, { width: w, height: h }) => sum + w * h, 0);
  const keptBytes = keep ? 4 * sidesFor(transparent) * 7 * pixels : 0;
  // One image's rows (two when the original's are redone), x·y and the blur's buffer, the SSIM maps.
  const transient = (keep ? 1 : 2) * ImageRows.bytes(plan) + 4 * (2 * plan.labPixels + pixels);
  return { layout: { kind: 'strips', rows, keep }, keptBytes, peakBytes: keptBytes + transient };
}

/** The fused blur needs four rows and columns: smaller images only ever compare whole (they are tiny). */
const canStrip = (width: number, height: number) => width >= 4 && height >= 4;

/** Every layout `planDssim` considers, fastest first. */
function layouts(width: number, height: number, transparent: boolean): DssimPlan[] {
  const whole = wholeCost(width, height, transparent);
  if (!canStrip(width, height)) return [whole];
  return [whole, ...[true, false].flatMap((keep) => STRIP_ROWS.map((rows) => stripCost(width, height, transparent, rows, keep)))];
}

/** The least any layout needs for `references` references of this size (see `PlanOptions`). */
export function leastDssimBytes(width: number, height: number, transparent: boolean, references = 1): number {
  return Math.min(...layouts(width, height, transparent).map((plan) => plannedBytes(plan, references)));
}

/** What `layout` costs for an image of this size. */
export function dssimCost(width: number, height: number, transparent: boolean, layout: DssimLayout): DssimPlan {
  if (layout.kind === 'whole') return wholeCost(width, height, transparent);
  if (!canStrip(width, height) || !(Number.isInteger(layout.rows) && layout.rows >= 1)) {
    throw new RangeError(`DSSIM cannot compare ${width}×${height} in strips of ${layout.rows} rows`);
  }
  return stripCost(width, height, transparent, layout.rows, layout.keep);
}

export interface PlanOptions {
  readonly transparent: boolean;
  /** Default `DEFAULT_DSSIM_BYTES`. */
  readonly maxBytes?: number | undefined;
  /**
   * References of this size planned together, compared one at a time (an animation's frames): their kept
   * bytes add up, one comparison's scratch comes on top. Default 1.
   */
  readonly references?: number;
}

/** Bytes `references` references laid out as `plan` hold at most, comparing one at a time. */
export const plannedBytes = (plan: DssimPlan, references = 1) => references * plan.keptBytes + (plan.peakBytes - plan.keptBytes);

/**
 * The fastest layout that fits `maxBytes`: the whole image, else strips with the original's planes kept, else
 * strips redoing them; undefined when even the shortest strips do not fit.
 */
export function planDssim(width: number, height: number, options: PlanOptions): DssimPlan | undefined {
  const maxBytes = options.maxBytes ?? DEFAULT_DSSIM_BYTES;
  return layouts(width, height, options.transparent).find((plan) => plannedBytes(plan, options.references) <= maxBytes);
}

export interface DssimOptions {
  /** The most this reference may hold beyond the image, comparing included (default `DEFAULT_DSSIM_BYTES`). */
  readonly maxBytes?: number;
  /** A layout to use whatever it costs (tests, benchmarks, an animation's frames planned together). */
  readonly layout?: DssimLayout;
  /** Strip scratch shared with references of the same size compared one at a time (default: its own). */
  readonly workspace?: DssimWorkspace;
  /** Judge transparency over black and white only, as SPEC §9 step 2 says (its vectors); default: grey too. */
  readonly specBackgrounds?: boolean;
}

/**
 * The original's side of every comparison, prepared once per background as candidates need it, laid out as
 * its plan says. What it holds: `bytes` (its own planes and scratch, at most `plan.keptBytes`) and
 * `workspace.bytes` (strip scratch, at most `plan.peakBytes − plan.keptBytes`).
 */
export class DssimReference {
  private readonly prepared = new Map<Background, PreparedScale[]>();
  private readonly kept = new Map<Background, Window[]>();
  private readonly blur: Blur | undefined;
  private readonly scratch = new Scratch();
  private readonly strips: StripPlan | undefined;
  readonly workspace: DssimWorkspace;
  readonly transparent: boolean;
  readonly plan: DssimPlan;
  /** The backgrounds a transparent pair is judged over, the last worst first. */
  private order: readonly Background[];

  constructor(
    readonly image: RgbaImage,
    options: DssimOptions = {},
  ) {
    this.workspace = options.workspace ?? new DssimWorkspace();
    this.transparent = hasTransparency(image);
    this.order = options.specBackgrounds ? SPEC_ONLY : ACCEPTANCE;
    const { width, height } = image;
    const plan = options.layout ? dssimCost(width, height, this.transparent, options.layout) : planDssim(width, height, { transparent: this.transparent, maxBytes: options.maxBytes });
    if (!plan) {
      const least = leastDssimBytes(width, height, this.transparent);
      throw new RangeError(`DSSIM of ${width}×${height} needs at least ${mb(least)} MB, over its allowance of ${mb(options.maxBytes ?? DEFAULT_DSSIM_BYTES)} MB`);
    }
    this.plan = plan;
    const { layout } = plan;
    if (layout.kind === 'whole') this.blur = new Blur(width * height);
    else this.strips = planStrips(width, height, layout.rows);
  }

  /** Bytes this reference holds now beyond the image and its workspace (at most `plan.keptBytes`). */
  get bytes(): number {
    let total = this.scratch.bytes + (this.blur?.bytes ?? 0);
    for (const scales of this.prepared.values()) for (const scale of scales) total += windowBytes({ lo: 0, ...scale });
    for (const windows of this.kept.values()) for (const window of windows) total += windowBytes(window);
    return total;
  }

  /**
   * Planes of one background. A reference keeps as many backgrounds as its plan counted (an opaque original
   * one): a transparent candidate against an opaque original swaps them, which is rare, rather than exceed it.
   */
  private side(background: Background): PreparedScale[] {
    let scales = this.prepared.get(background);
    if (!scales) {
      if (this.prepared.size >= sidesFor(this.transparent)) this.prepared.clear();
      scales = prepareScales(this.image, background, freshPlanes, this.blur!);
      this.prepared.set(background, scales);
    }
    return scales;
  }

  private keptSide(background: Background, buffers: StripBuffers): Window[] {
    let windows = this.kept.get(background);
    if (!windows) {
      if (this.kept.size >= sidesFor(this.transparent)) this.kept.clear();
      windows = keepScales(buffers, this.image, background);
      this.kept.set(background, windows);
    }
    return windows;
  }

  private compareOver(candidate: RgbaImage, background: Background, above: number): number {
    const { strips } = this;
    if (!strips) return compareScales(this.side(background), candidate, background, this.blur!, this.scratch.alloc, above);
    const keep = this.plan.layout.kind === 'strips' && this.plan.layout.keep;
    const buffers = this.workspace.for(strips);
    return compareStrips(buffers, keep ? { kept: this.keptSide(background, buffers) } : { image: this.image }, candidate, background);
  }

  /**
   * SPEC §9: the DSSIM of `candidate` against the original. Sizes must be equal.
   *
   * With `above` (a search's target), a transparent pair stops at the first background whose DSSIM is over it and
   * returns that value: the worst can only be higher, so "over the target" is decided exactly, at a third of the
   * cost. The background that was worst last time is tried first (searches probe similar candidates in a row).
   */
  compare(candidate: RgbaImage, above = Infinity): number {
    if (candidate.width !== this.image.width || candidate.height !== this.image.height) {
      throw new RangeError(`DSSIM needs equal sizes: ${this.image.width}×${this.image.height} vs ${candidate.width}×${candidate.height}`);
    }
    // Step 2: alpha anywhere → compare over each background, keep the worst.
    if (!this.transparent && !hasTransparency(candidate)) return this.compareOver(candidate, 'none', above);
    let worst = -Infinity;
    let worstBackground = this.order[0]!;
    for (const background of this.order) {
      const value = this.compareOver(candidate, background, above);
      if (value > worst) {
        worst = value;
        worstBackground = background;
      }
      if (worst > above) break;
    }
    this.order = [worstBackground, ...this.order.filter((background) => background !== worstBackground)];
    return worst;
  }
}

const mb = (bytes: number) => Math.ceil(bytes / 2 ** 20);

export function dssim(original: RgbaImage, candidate: RgbaImage, options: DssimOptions = {}): number {
  return new DssimReference(original, options).compare(candidate);
}
