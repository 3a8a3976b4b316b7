import type { QualityModel } from './quality-model.js';

/** Placeholder until bench/train-quality-model.ts writes this file: the typical JPEG curve of SPEC §6. */
export const QUALITY_MODEL: QualityModel = {
  features: ['log luma gradient', 'log chroma gradient', 'luma spread', 'flat share', 'busy share', 'log megapixels', 'source quality'],
  weights: {
    jpeg: [9.49, 0.87, 0, 0, 0, 0, 0, 0, 0],
    webp: [9.49, 0.87, 0, 0, 0, 0, 0, 0, 0],
    avif: [9.49, 0.87, 0, 0, 0, 0, 0, 0, 0],
  },
};
