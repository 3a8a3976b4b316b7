import { aiqaSearch, type QualityCurve, sizeSearch } from './aiqa.js';
import type { EngineSettings, ExperimentName, ExperimentOutcome, VariantFormat } from './experiment.js';

export interface LossyEncoding {
  readonly experiment: ExperimentName;
  readonly format: VariantFormat;
  readonly encode: (quality: number) => Promise<Buffer>;
  /** DSSIM against the original; with `above`, it may stop early once over it (see `measureAgainst`). */
  readonly measure: (bytes: Buffer, above?: number) => Promise<number>;
  /** Search the quality under `d` (SPEC §6 AIQA); otherwise encode at the configured quality. */
  readonly search: boolean;
  /** `method="ml"`: the model's quality for this image and format (computed only when asked for). */
  readonly predict?: () => number;
  /** The encoder's typical curve for this kind of image (the search's first guess; see `curveFor`). */
  readonly curve?: QualityCurve;
  /** Qualities the encoder cannot tell apart (see `AiqaOptions.group`). */
  readonly group?: (quality: number) => { readonly lo: number; readonly hi: number };
  readonly startedAt: number;
}

/** An encoder's typical curves: photographs (JPEG, WebP originals) and drawn graphics (PNG, GIF) lie far apart. */
export interface TypicalCurves {
  readonly photo: QualityCurve;
  readonly graphic: QualityCurve;
}

export function curveFor(curves: TypicalCurves, original: { readonly facts: { readonly type: string } }): QualityCurve {
  return original.facts.type === 'jpeg' || original.facts.type === 'webp' ? curves.photo : curves.graphic;
}

/** Whether a lossy result's DSSIM is acceptable: only the DSSIM methods guard it (`size` and `none` do not). */
export function withinTarget(settings: EngineSettings, dssim: number): boolean {
  const method = settings.method ?? 'dssim';
  return !(method === 'dssim' || method === 'ml') || settings.d <= 0 || dssim <= settings.d;
}

/**
 * The lossy experiments' common step, by the configured method:
 * - `dssim` (SPEC §6 AIQA; FIT's way): the lowest quality under `d` when the encoding searches, else one encode
 *   at the fixed quality, accepted only under `d`;
 * - `ml`: the same search, started from the model's prediction (`predict`); with `allowedError` 1 the prediction
 *   is used as it is;
 * - `size`: the highest quality whose output fits `targetBytes`, or the smallest (at the lowest quality) with a
 *   shortfall saying it does not fit;
 * - `none`: one encode at the fixed quality, unmeasured against any target.
 */
export async function lossyVariant(settings: EngineSettings, encoding: LossyEncoding): Promise<ExperimentOutcome> {
  const ms = () => Math.round(performance.now() - encoding.startedAt);
  const bounds = settings.formatBounds?.[encoding.format];
  const minQuality = bounds?.min ?? settings.minQuality;
  const maxQuality = bounds?.max ?? settings.maxQuality;
  const method = settings.method ?? 'dssim';
  const variant = (bytes: Buffer, quality: number, dssim: number, shortfall?: string) =>
    ({ experiment: encoding.experiment, format: encoding.format, bytes, quality, dssim, lossless: false, ...(shortfall ? { shortfall } : {}) }) as const;

  if (method === 'size' && settings.targetBytes !== undefined) {
    const found = await sizeSearch({ targetBytes: settings.targetBytes, minQuality, maxQuality, allowedError: settings.allowedError ?? 0, encode: encoding.encode });
    const dssim = await encoding.measure(found.bytes);
    const shortfall = found.fits ? undefined : `does not fit ${settings.targetBytes} bytes even at the minimum quality ${found.quality}`;
    return { ok: true, variant: variant(found.bytes, found.quality, dssim, shortfall), encodes: found.probes.length, ms: ms() };
  }
  const predicted = method === 'ml' && encoding.search && encoding.predict ? Math.min(Math.max(Math.round(encoding.predict()), minQuality), maxQuality) : undefined;
  if (predicted !== undefined && (settings.allowedError ?? 0) >= 1) {
    const bytes = await encoding.encode(predicted);
    return { ok: true, variant: variant(bytes, predicted, await encoding.measure(bytes)), encodes: 1, ms: ms() };
  }
  if ((method === 'dssim' || method === 'ml') && encoding.search && settings.d > 0) {
    const found = await aiqaSearch({
      target: settings.d,
      minQuality,
      maxQuality,
      ...(predicted === undefined ? {} : { initialQuality: predicted }),
      ...(encoding.curve ? { curve: encoding.curve } : {}),
      ...(encoding.group ? { group: encoding.group } : {}),
      ...(settings.allowedError ? { allowedError: settings.allowedError } : {}),
      encode: encoding.encode,
      measure: encoding.measure,
    });
    if (!found.found) return { ok: false, reason: found.reason, encodes: found.probes.length, ms: ms() };
    return { ok: true, variant: variant(found.bytes, found.quality, found.dssim), encodes: found.probes.length, ms: ms() };
  }
  const bytes = await encoding.encode(settings.quality);
  const guarded = (method === 'dssim' || method === 'ml') && settings.d > 0;
  const dssim = await encoding.measure(bytes, guarded ? settings.d : Infinity);
  if (!withinTarget(settings, dssim)) {
    return { ok: false, reason: `DSSIM ${dssim.toFixed(5)} at quality ${settings.quality} is above d = ${settings.d}`, encodes: 1, ms: ms() };
  }
  return { ok: true, variant: variant(bytes, settings.quality, dssim), encodes: 1, ms: ms() };
}
