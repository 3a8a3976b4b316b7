import { aiqaSearch } from './aiqa.js';
import type { EngineSettings, ExperimentName, ExperimentOutcome, VariantFormat } from './experiment.js';

export interface LossyEncoding {
  readonly experiment: ExperimentName;
  readonly format: VariantFormat;
  readonly encode: (quality: number) => Promise<Buffer>;
  readonly measure: (bytes: Buffer) => Promise<number>;
  /** Search the quality under `d` (SPEC §6 AIQA); otherwise encode at the configured quality. */
  readonly search: boolean;
  readonly startedAt: number;
}

/**
 * The lossy experiments' common step: a DSSIM search for the lowest passing quality, or one encode at the fixed
 * quality, then the acceptance rule of SPEC §6 (DSSIM ≤ d; in quality mode, the fixed quality is accepted).
 */
export async function lossyVariant(settings: EngineSettings, encoding: LossyEncoding): Promise<ExperimentOutcome> {
  const ms = () => Math.round(performance.now() - encoding.startedAt);
  if (encoding.search && settings.d > 0) {
    const bounds = settings.formatBounds?.[encoding.format];
    const found = await aiqaSearch({
      target: settings.d,
      minQuality: bounds?.min ?? settings.minQuality,
      maxQuality: bounds?.max ?? settings.maxQuality,
      encode: encoding.encode,
      measure: encoding.measure,
    });
    if (!found.found) return { ok: false, reason: found.reason, encodes: found.probes.length, ms: ms() };
    return {
      ok: true,
      variant: { experiment: encoding.experiment, format: encoding.format, bytes: found.bytes, quality: found.quality, dssim: found.dssim, lossless: false },
      encodes: found.probes.length,
      ms: ms(),
    };
  }
  const bytes = await encoding.encode(settings.quality);
  const dssim = await encoding.measure(bytes);
  if (settings.d > 0 && dssim > settings.d) {
    return { ok: false, reason: `DSSIM ${dssim.toFixed(5)} at quality ${settings.quality} is above d = ${settings.d}`, encodes: 1, ms: ms() };
  }
  return {
    ok: true,
    variant: { experiment: encoding.experiment, format: encoding.format, bytes, quality: settings.quality, dssim, lossless: false },
    encodes: 1,
    ms: ms(),
  };
}
