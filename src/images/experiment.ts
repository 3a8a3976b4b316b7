import type { QualityMethod } from '../config/index.js';
import type { Original } from './original.js';
import type { ImageTransform } from './transform-options.js';

/** SPEC §6: the experiments, by name. */
export type ExperimentName =
  | 'jpeg'
  | 'png-lossless'
  | 'png-palette'
  | 'jpeg-from-png'
  | 'webp-lossless'
  | 'webp'
  | 'avif'
  | 'zorro'
  | 'webp-animated'
  | 'webp-reencode'
  /** Not in any plan: explicit image options (image API), run on request. */
  | 'transform';

export type VariantFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'svg';

export const MIME_TYPES: Readonly<Record<VariantFormat, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  svg: 'image/svg+xml',
};

/** The format each experiment makes (a transform makes whichever its options ask for). */
export const EXPERIMENT_FORMAT: Readonly<Record<Exclude<ExperimentName, 'transform'>, VariantFormat>> = {
  jpeg: 'jpeg',
  'jpeg-from-png': 'jpeg',
  'png-lossless': 'png',
  'png-palette': 'png',
  'webp-lossless': 'webp',
  webp: 'webp',
  'webp-animated': 'webp',
  'webp-reencode': 'webp',
  avif: 'avif',
  zorro: 'svg',
};

/** What the experiments work to: SPEC §1's settings as the engine needs them. */
export interface EngineSettings {
  /** DSSIM target; `<= 0`: quality mode (JPEG at `quality`, no search). */
  readonly d: number;
  readonly quality: number;
  readonly minQuality: number;
  readonly maxQuality: number;
  /** The DSSIM search for WebP and AVIF too (`aiqa="all"`), not only JPEG. */
  readonly aiqaAll: boolean;
  readonly losslessPng: boolean;
  /** libaom effort (0–9) of the final AVIF encode; the search runs at a lower one. */
  readonly avifEffort: number;
  /** Per-format search bounds (`avif=60`-style), overriding min/max quality for that format. */
  readonly formatBounds?: Partial<Record<VariantFormat, { readonly min?: number; readonly max?: number }>>;
  /**
   * How lossy qualities are chosen (default `dssim`): `size` fits `targetBytes`, `none` encodes at `quality`
   * unmeasured, `ml` searches under `d` from a model's predicted quality.
   */
  readonly method?: QualityMethod;
  readonly targetBytes?: number;
  /** Fraction of the target a search may stop short of (0: exact). */
  readonly allowedError?: number;
  /** The `transform` experiment's crop, resize, format and quality (image API). */
  readonly transform?: ImageTransform;
}

/** One version of an image an experiment made. */
export interface Variant {
  readonly experiment: ExperimentName;
  readonly format: VariantFormat;
  readonly bytes: Buffer;
  /** Encoder quality, for lossy variants. */
  readonly quality?: number;
  /** To the original (SPEC §9); 0 for lossless. */
  readonly dssim: number;
  readonly lossless: boolean;
  /** Content coding the bytes are best sent with (ZorroSVG: gzip), and their size so. */
  readonly transfer?: { readonly encoding: 'gzip'; readonly bytes: Buffer };
  /** Why the variant falls short of what was asked (sent as `X-Slimproxy-Skip`), e.g. a size it cannot fit. */
  readonly shortfall?: string;
  /** `transform`: what was done, e.g. "crop 300x200, resize 150x100 lanczos3, webp q80". */
  readonly operations?: string;
  /** `transform`: whether its dimensions differ from the original's (then it is sent even if bigger). */
  readonly reshaped?: boolean;
}

export interface ExperimentReport {
  readonly encodes: number;
  readonly ms: number;
}

export type ExperimentOutcome =
  | ({ readonly ok: true; readonly variant: Variant } & ExperimentReport)
  | ({
      readonly ok: false;
      readonly reason: string;
      /** The original itself cannot be used (it does not decode, or is over a limit): no experiment on it can succeed. */
      readonly unusable?: boolean;
    } & ExperimentReport);

/**
 * What is already known of an original's other experiments (same settings): the bytes of acceptable outcomes
 * (some may be missing: the proxy knows only those it kept). Lets an experiment see that it cannot win.
 */
export type KnownSizes = Partial<Readonly<Record<ExperimentName, number>>>;

/** One experiment (SPEC §6): the same signature for all, assembled into plans that are lists. */
export interface Experiment {
  readonly name: ExperimentName;
  run(original: Original, settings: EngineSettings, known?: KnownSizes): Promise<ExperimentOutcome>;
}

/** The bytes a variant costs on the wire (ZorroSVG goes compressed). */
export function wireSize(variant: Variant): number {
  return variant.transfer?.bytes.length ?? variant.bytes.length;
}
