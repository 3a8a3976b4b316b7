/** The quality model's shape, apart from its weights (written by a bench) and its use (quality-model.ts). */
export type ModelFormat = 'jpeg' | 'webp' | 'avif';

export interface QualityModel {
  /** What the features are, in order (after the bias and log d). */
  readonly features: readonly string[];
  readonly weights: Readonly<Record<ModelFormat, readonly number[]>>;
}
