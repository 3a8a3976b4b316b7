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
  readonly encode: (quality: number) => Promise<Buffer>;
  readonly measure: (encoded: Buffer) => Promise<number>;
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

/** log DSSIM against log s on real photos (SPEC §6). */
const TYPICAL_SLOPE = 1.15;
/** Where the typical curve passes: DSSIM ≈ 0.0028 at quality 60 (s = 80) for photos of the test vectors. */
const TYPICAL_POINT = { scale: 80, dssim: 0.0028 };

function predictQuality(target: number, from: { scale: number; dssim: number }, slope: number): number {
  const logScale = Math.log(from.scale) + (Math.log(target) - Math.log(Math.max(from.dssim, 1e-12))) / slope;
  return qualityFromScale(Math.exp(logScale));
}

export async function aiqaSearch(options: AiqaOptions): Promise<AiqaResult> {
  const { target, minQuality: min, maxQuality: max } = options;
  const probes: QualityProbe[] = [];
  const tried = new Map<number, QualityProbe>();
  /** Highest quality known to fail, lowest known to pass; virtual ends beyond the bounds. */
  let failing = min - 1;
  let passing = max + 1;

  const probe = async (quality: number): Promise<QualityProbe> => {
    const known = tried.get(quality);
    if (known) return known;
    const bytes = await options.encode(quality);
    const result = { quality, bytes, dssim: await options.measure(bytes) };
    probes.push(result);
    tried.set(quality, result);
    return result;
  };

  let next = Math.ceil(options.initialQuality ?? predictQuality(target, TYPICAL_POINT, TYPICAL_SLOPE));
  let stepsOutside = 0;
  while (passing - failing > 1) {
    // A prediction at or beyond a bracket end means "the answer is next to it": probe next to it. If that keeps
    // happening the curve is far from the model (noise, an odd image): bisect rather than crawl.
    const outside = next <= failing || next >= passing;
    stepsOutside = outside ? stepsOutside + 1 : 0;
    if (stepsOutside > 1 && failing >= min && passing <= max) next = Math.floor((failing + passing) / 2);
    next = Math.min(Math.max(next, failing + 1), Math.min(passing - 1, max));
    const result = await probe(next);
    if (result.dssim <= target) passing = next;
    else failing = next;
    if (failing >= max) return { found: false, reason: `no quality up to ${max} reaches DSSIM ≤ ${target}`, probes };
    next = nextGuess(target, probes, tried, failing, passing);
  }
  const best = tried.get(passing)!;
  return { found: true, ...best, probes };
}

/**
 * The secant step: through the bracket's ends when both are measured, else through the last two probes, else
 * from the last probe along the typical slope.
 */
function nextGuess(target: number, probes: readonly QualityProbe[], tried: ReadonlyMap<number, QualityProbe>, failing: number, passing: number): number {
  const low = tried.get(failing);
  const high = tried.get(passing);
  const [a, b] = low && high ? [low, high] : [probes.at(-2), probes.at(-1)];
  const from = b ?? probes.at(-1)!;
  let slope = TYPICAL_SLOPE;
  if (a && b && a.quality !== b.quality && a.dssim > 0 && b.dssim > 0) {
    const measured = (Math.log(a.dssim) - Math.log(b.dssim)) / (Math.log(scaleFactor(a.quality)) - Math.log(scaleFactor(b.quality)));
    // Noise can flatten or invert the measured slope between close qualities: keep the typical one then.
    if (Number.isFinite(measured) && measured > 0.3 && measured < 4) slope = measured;
  }
  const predicted = predictQuality(target, { scale: scaleFactor(from.quality), dssim: from.dssim }, slope);
  // Aim at the lowest integer predicted to pass; the loop keeps it inside the bracket.
  return Math.ceil(predicted - 1e-9);
}
