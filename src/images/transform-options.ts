import type { QualityMethod } from '../config/index.js';

/** What explicit image options ask of the `transform` experiment (see transform.ts). */
export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif';

export interface ImageTransform {
  /** An explicit format, or `auto`: the smallest of those the client's Accept names, and the fallback. */
  readonly format?: OutputFormat | { readonly auto: readonly OutputFormat[]; readonly fallback?: OutputFormat };
  readonly quality?: number | 'lossless';
  readonly autoquality?: {
    readonly method: QualityMethod;
    /** DSSIM for dssim/ml, bytes for size. */
    readonly target?: number;
    readonly minQuality?: number;
    readonly maxQuality?: number;
    readonly allowedError?: number;
  };
  /** Bounding box in CSS pixels (multiplied by `dpr`); the aspect ratio is kept, never enlarged. */
  readonly size?: { readonly width?: number; readonly height?: number };
  readonly dpr: number;
  readonly algorithm: 'lanczos3' | 'thumbnail' | 'auto';
  /** A centred rectangle cut from the original, before resizing. */
  readonly crop?: { readonly width: number; readonly height: number };
}
