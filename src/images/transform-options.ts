import type { QualityMethod } from '../config/index.js';

/** What explicit image options ask of the `transform` experiment (see transform.ts). */
export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif';

export interface ImageTransform {
  /** An explicit format, or `auto`: the smallest of those the client's Accept names, and the fallback. */
  readonly format?: OutputFormat | { readonly auto: readonly OutputFormat[]; readonly fallback?: OutputFormat };
  /**
   * Formats the result must not be in, whatever `format` says (a marked URL: the formats its mark does not allow,
   * SPEC §5.5); the original's own format among them gives way to JPEG, or PNG for transparency.
   */
  readonly refuse?: readonly OutputFormat[];
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

/** What reshaping does to an image of a given size: the rectangle cut, and the size it is resized to. */
export interface ReshapePlan {
  readonly crop?: { readonly left: number; readonly top: number; readonly width: number; readonly height: number };
  readonly resize?: { readonly width: number; readonly height: number; readonly kernel: 'lanczos3' | 'cubic' };
}

/**
 * Crop, then resize, for an upright image of `width` × `height`: the one source of both what the transform does
 * and the store slot of its result (two option sets with the same plan, format and quality make the same pixels).
 */
export function reshapePlan(transform: ImageTransform, width: number, height: number): ReshapePlan {
  let current = { width, height };
  let crop: ReshapePlan['crop'];
  if (transform.crop && (transform.crop.width < width || transform.crop.height < height)) {
    const w = Math.min(transform.crop.width, width);
    const h = Math.min(transform.crop.height, height);
    crop = { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
    current = { width: w, height: h };
  }
  let resize: ReshapePlan['resize'];
  if (transform.size) {
    const boxWidth = transform.size.width ? transform.size.width * transform.dpr : Infinity;
    const boxHeight = transform.size.height ? transform.size.height * transform.dpr : Infinity;
    const scale = Math.min(boxWidth / current.width, boxHeight / current.height, 1);
    if (scale < 1) {
      // thumbnail: a cheaper cubic kernel; auto: Lanczos for mild reductions, cubic for strong ones.
      const kernel = transform.algorithm === 'lanczos3' || (transform.algorithm === 'auto' && scale >= 0.5) ? 'lanczos3' : 'cubic';
      resize = { width: Math.max(1, Math.round(current.width * scale)), height: Math.max(1, Math.round(current.height * scale)), kernel };
    }
  }
  return { ...(crop ? { crop } : {}), ...(resize ? { resize } : {}) };
}
