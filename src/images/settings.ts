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
    avifEffort: 4,
  };
}
