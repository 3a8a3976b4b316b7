import { AVIF_EFFORT } from './experiments/avif.js';
import { createHash } from 'node:crypto';
import type { ImageCompressionConfig } from '../config/index.js';
import type { EngineSettings } from './experiment.js';

/** SPEC §1's `<image-compression>` as the experiments need it. */
export function engineSettings(config: ImageCompressionConfig): EngineSettings {
  return {
    d: config.d,
    quality: config.quality,
    minQuality: config.minQuality,
    maxQuality: config.maxQuality,
    aiqaAll: config.aiqa === 'all',
    losslessPng: config.losslessPng,
    avifEffort: AVIF_EFFORT,
    method: config.method,
    ...(config.targetBytes === undefined ? {} : { targetBytes: config.targetBytes }),
    allowedError: config.allowedError,
    formatBounds: formatBounds(config),
  };
}

/** `format-min`/`format-max` as the engine's per-format bounds. */
function formatBounds(config: ImageCompressionConfig): NonNullable<EngineSettings['formatBounds']> {
  const bounds: Record<string, { min?: number; max?: number }> = {};
  for (const [format, min] of Object.entries(config.formatMin)) bounds[format] = { ...bounds[format], min };
  for (const [format, max] of Object.entries(config.formatMax)) bounds[format] = { ...bounds[format], max };
  return bounds;
}

/**
 * A digest of the engine settings: outcomes made under other settings are not reused (the store), and instances
 * with other settings (during a rolling change of config.xml) neither take each other's results nor each other's
 * jobs (the cluster's key space).
 */
export function settingsDigest(settings: EngineSettings): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 12);
}
