/**
 * AIQA (SPEC §6): the lowest encoder quality whose DSSIM to the original is at most `d`, found in a few encodes.
 *
 * Measured on real photos, log DSSIM is close to linear in the log of libjpeg's scale factor
 * s = q < 50 ? 5000/q : 200 − 2q (slope ≈ 1.15). So: a first guess, then secant steps in (log s, log DSSIM)
 * aimed at the lowest integer quality predicted to pass, always inside a bracket (highest failing, lowest
 * passing quality known), until the bracket closes. A pure function of `encode` and `measure`.
 */

export interface QualityProbe {
  readonly quality: number;
  readonly bytes: Buffer;
  readonly dssim: number;
}

export interface AiqaOptions {
  /** The DSSIM target `d` (> 0). */
  readonly target: number;
  readonly minQuality: number;
  readonly maxQuality: number;
  /** A first guess (an estimate, a model's prediction); otherwise one from the typical curve. */
  readonly initialQuality?: number;
  /** The encoder's typical curve (default: libjpeg's on photos, `JPEG_CURVE`): the first guess and early steps. */
  readonly curve?: QualityCurve;
  /**
   * Qualities that give the same encode (an encoder with fewer settings than qualities): the lowest and highest
   * quality of `quality`'s group. One probe then settles the whole group; the answer is its lowest quality.
   */
  readonly group?: (quality: number) => { readonly lo: number; readonly hi: number };
  /**
   * Stop at the first passing quality whose DSSIM is within this fraction of the target (0, the default: the
   * lowest passing quality exactly).
   */
  readonly allowedError?: number;
  readonly encode: (quality: number) => Promise<Buffer>;
  /** DSSIM of an encode; may stop early once over `above` (the target), returning a value over it. */
  readonly measure: (encoded: Buffer, above: number) => Promise<number>;
}

export type AiqaResult =
  | ({ readonly found: true; readonly probes: readonly QualityProbe[] } & QualityProbe)
  | { readonly found: false; readonly reason: string; readonly probes: readonly QualityProbe[] };

/** libjpeg's quality → scale factor (percent). */
export function scaleFactor(quality: number): number {
  return quality < 50 ? 5000 / quality : 200 - 2 * quality;
}

/** Its inverse, for a fractional quality. */
export function qualityFromScale(scale: number): number {
  return scale > 100 ? 5000 / scale : (200 - scale) / 2;
}

/**
 * How an encoder's DSSIM typically falls with its quality, in (log s, log DSSIM): where it passes for images of a
 * kind, and its slope. Only the search's speed depends on it, never its answer.
 */
export interface QualityCurve {
  readonly point: { readonly scale: number; readonly dssim: number };
  readonly slope: number;
}

/** libjpeg on real photos (SPEC §6): slope ≈ 1.15, DSSIM ≈ 0.0028 at quality 60 (s = 80) for the test vectors' photos. */
export const JPEG_CURVE: QualityCurve = { point: { scale: 80, dssim: 0.0028 }, slope: 1.15 };

/** How close to the lowest quality a first guess must be for the search to try the lowest quality first. */
const NEAR_THE_BOUND = 5;

function predictQuality(target: number, from: { scale: number; dssim: number }, slope: number): number {
  const logScale = Math.log(from.scale) + (Math.log(target) - Math.log(Math.max(from.dssim, 1e-12))) / slope;
  return qualityFromScale(Math.exp(logScale));
}

export async function aiqaSearch(options: AiqaOptions): Promise<AiqaResult> {
  const { target, minQuality: min, maxQuality: max } = options;
  const probes: QualityProbe[] = [];
  if (!(min <= max)) return { found: false, reason: `no quality to search: the lowest (${min}) is above the highest (${max})`, probes };
  const tried = new Map<number, QualityProbe>();
  /** Highest quality known to fail, lowest known to pass; virtual ends beyond the bounds. */
  let failing = min - 1;
  let passing = max + 1;

  const curve = options.curve ?? JPEG_CURVE;
  const groupOf = (quality: number) => {
    const group = options.group?.(quality) ?? { lo: quality, hi: quality };
    return { lo: Math.max(group.lo, min), hi: Math.min(group.hi, max) };
  };
  /** A probe settles its quality's group: known for each quality of it. */
  const probe = async (quality: number): Promise<QualityProbe & { readonly group: { lo: number; hi: number } }> => {
    const group = groupOf(quality);
    const known = tried.get(group.lo);
    if (known) return { ...known, group };
    const bytes = await options.encode(group.lo);
    const result = { quality: group.lo, bytes, dssim: await options.measure(bytes, target) };
    probes.push(result);
    for (let q = group.lo; q <= group.hi; q += 1) tried.set(q, result);
    return { ...result, group };
  };

  let next = Math.ceil(options.initialQuality ?? predictQuality(target, curve.point, curve.slope));
  let stepsOutside = 0;
  while (passing - failing > 1) {
    // A prediction at or beyond a bracket end means "the answer is next to it": probe next to it. If that keeps
    // happening the curve is far from the model (noise, an odd image): gallop away from that end, 1, 2, 4… steps,
    // never past the middle (a bisection), rather than crawl. (Bisecting at once wasted probes where the answer
    // was next to the end after all: a texture's noisy WebP curve took 10 probes.)
    // An answer predicted near the lowest quality allowed is often that quality itself (graphics under a lenient
    // d): probing it can end the search at once.
    if (failing < min && next - min <= NEAR_THE_BOUND) next = min;
    const outside = next <= failing || next >= passing;
    stepsOutside = outside ? stepsOutside + 1 : 0;
    if (stepsOutside > 1 && failing >= min && passing <= max) {
      const gallop = 2 ** (stepsOutside - 1);
      const middle = Math.floor((failing + passing) / 2);
      next = next >= passing ? Math.max(passing - gallop, middle) : Math.min(failing + gallop, middle);
    }
    next = Math.min(Math.max(next, failing + 1), Math.min(passing - 1, max));
    const result = await probe(next);
    if (result.dssim <= target) {
      passing = result.group.lo;
      if (options.allowedError && result.dssim >= target * (1 - options.allowedError)) break;
    } else {
      failing = result.group.hi;
    }
    if (failing >= max) return { found: false, reason: `no quality up to ${max} reaches DSSIM ≤ ${target}`, probes };
    next = nextGuess(target, probes, tried, failing, passing, curve.slope);
  }
  const best = tried.get(passing)!;
  return { found: true, ...best, probes };
}

/**
 * The secant step: through the bracket's ends when both are measured, else through the last two probes, else
 * from the last probe along the typical slope.
 */
function nextGuess(target: number, probes: readonly QualityProbe[], tried: ReadonlyMap<number, QualityProbe>, failing: number, passing: number, typicalSlope: number): number {
  const low = tried.get(failing);
  const high = tried.get(passing);
  const [a, b] = low && high ? [low, high] : [probes.at(-2), probes.at(-1)];
  const from = b ?? probes.at(-1)!;
  let slope = typicalSlope;
  if (a && b && a.quality !== b.quality && a.dssim > 0 && b.dssim > 0) {
    const measured = (Math.log(a.dssim) - Math.log(b.dssim)) / (Math.log(scaleFactor(a.quality)) - Math.log(scaleFactor(b.quality)));
    // Noise can flatten or invert the measured slope between close qualities: keep the typical one then.
    if (Number.isFinite(measured) && measured > 0.3 && measured < 4) slope = measured;
  }
  const predicted = predictQuality(target, { scale: scaleFactor(from.quality), dssim: from.dssim }, slope);
  // Aim at the lowest integer predicted to pass; the loop keeps it inside the bracket.
  return Math.ceil(predicted - 1e-9);
}

export interface SizeSearchOptions {
  /** Bytes the result must fit in. */
  readonly targetBytes: number;
  readonly minQuality: number;
  readonly maxQuality: number;
  /** Stop as soon as a fitting result is within this fraction of the target (imgproxy's `allowed_error`). */
  readonly allowedError: number;
  readonly encode: (quality: number) => Promise<Buffer>;
}

export interface SizeProbe {
  readonly quality: number;
  readonly bytes: Buffer;
}

export type SizeSearchResult =
  | ({ readonly fits: true; readonly probes: readonly SizeProbe[] } & SizeProbe)
  /** Even the lowest quality is too big: its result, so the caller can say so (and send the smallest). */
  | ({ readonly fits: false; readonly probes: readonly SizeProbe[] } & SizeProbe);

/**
 * The size method (imgproxy's autoquality "size"): the highest quality whose output fits `targetBytes`, by the
 * same kind of bracketed secant search, on log bytes against log s (bytes fall as the scale factor grows).
 */
export async function sizeSearch(options: SizeSearchOptions): Promise<SizeSearchResult> {
  const { targetBytes, minQuality: min, maxQuality: max } = options;
  if (!(min <= max)) throw new RangeError(`no quality to search: the lowest (${min}) is above the highest (${max})`);
  const probes: SizeProbe[] = [];
  const tried = new Map<number, SizeProbe>();
  let fitting = min - 1; // highest quality known to fit
  let tooBig = max + 1; // lowest quality known not to fit
  const probe = async (quality: number) => {
    const known = tried.get(quality);
    if (known) return known;
    const result = { quality, bytes: await options.encode(quality) };
    probes.push(result);
    tried.set(quality, result);
    return result;
  };
  let next = max;
  while (tooBig - fitting > 1) {
    next = Math.min(Math.max(next, fitting + 1), tooBig - 1);
    const result = await probe(next);
    if (result.bytes.length <= targetBytes) {
      fitting = next;
      if (result.bytes.length >= targetBytes * (1 - options.allowedError)) break;
    } else {
      tooBig = next;
    }
    if (tooBig <= min) {
      const smallest = tried.get(min)!;
      return { fits: false, ...smallest, probes };
    }
    next = nextSizeGuess(targetBytes, probes, tried.get(fitting), tried.get(tooBig));
    if (next <= fitting || next >= tooBig) next = Math.floor((fitting + tooBig) / 2);
  }
  return { fits: true, ...tried.get(fitting)!, probes };
}

/** Secant on (log s, log bytes) through the bracket's ends, else the last two probes; the highest quality predicted to fit. */
function nextSizeGuess(target: number, probes: readonly SizeProbe[], fits: SizeProbe | undefined, big: SizeProbe | undefined): number {
  const [a, b] = fits && big ? [fits, big] : [probes.at(-2), probes.at(-1)];
  const from = b ?? probes.at(-1)!;
  // Without two points: bytes ∝ s^-0.9 is typical of JPEG photos between q 40 and 90.
  let slope = -0.9;
  if (a && b && a.quality !== b.quality) {
    const measured = (Math.log(a.bytes.length) - Math.log(b.bytes.length)) / (Math.log(scaleFactor(a.quality)) - Math.log(scaleFactor(b.quality)));
    if (Number.isFinite(measured) && measured < -0.05) slope = measured;
  }
  const logScale = Math.log(scaleFactor(from.quality)) + (Math.log(target) - Math.log(from.bytes.length)) / slope;
  return Math.floor(qualityFromScale(Math.exp(logScale)) + 1e-9);
}
