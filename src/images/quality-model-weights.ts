import type { QualityModel } from './quality-model-shape.js';

/**
 * Written by bench/train-quality-model.ts (`npm run train:quality`): do not edit by hand. Trained on 17 images of
 * fixtures/photos, d ∈ {0.001, 0.002, 0.004}, ridge 0.003; rows are [1, log d, log luma gradient, log chroma gradient, luma spread, flat share, busy share, log megapixels, source quality, log quantisation loss] → log s.
 */
export const QUALITY_MODEL: QualityModel = {
  features: ["log luma gradient","log chroma gradient","luma spread","flat share","busy share","log megapixels","source quality","log quantisation loss"],
  weights: {
    jpeg: [7.07227, 0.84648, 0.05638, -0.09581, -0.01183, -0.83987, 0.00675, -0.16681, 0.21103, -0.76829],
    webp: [9.50124, 0.97573, -0.08837, -0.14676, -0.2625, -0.12819, 0.91176, -0.12039, 0.25758, -0.29744],
    avif: [7.40035, 0.47029, -0.34769, -0.08224, 0.15131, -0.71359, 0.38754, -0.24658, 0.068, -0.27762],
  },
};
