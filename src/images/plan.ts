import type { Capabilities } from '../client/index.js';
import type { EngineSettings, Experiment, ExperimentName } from './experiment.js';
import { avif } from './experiments/avif.js';
import { jpeg, jpegFromPng } from './experiments/jpeg.js';
import { pngLossless, webpLossless } from './experiments/lossless.js';
import { pngPalette } from './experiments/png-palette.js';
import { webp, webpAnimated, webpReencode } from './experiments/webp.js';
import { zorro } from './experiments/zorro.js';
import { transform } from './transform.js';
import type { ImageFacts } from './probe.js';

export const EXPERIMENTS: Readonly<Record<ExperimentName, Experiment>> = {
  jpeg,
  'png-lossless': pngLossless,
  'png-palette': pngPalette,
  'jpeg-from-png': jpegFromPng,
  'webp-lossless': webpLossless,
  webp,
  avif,
  zorro,
  'webp-animated': webpAnimated,
  'webp-reencode': webpReencode,
  transform,
};

/**
 * SPEC §6's table, each input's experiments ordered so that the first ones the mark allows carry most of the
 * saving: a request runs one experiment, so the second view of a page gets the first result. Measured on the demo
 * images with the default settings (bytes of each result under d, CPU per megapixel):
 * - photos (JPEG): AVIF 18.5–48 KB < WebP 23–57 KB < JPEG 28–64 KB on every one; AVIF alone reaches the final
 *   saving, JPEG first reached 74–89% of it. AVIF costs 2–3× JPEG's CPU, but every mark that allows it ends
 *   with it: run first, it is the one result that mark needs.
 * - opaque graphics (PNG): AVIF smallest on 3 of 4, WebP on the other (and second on the rest); palette PNG is
 *   the smallest PNG on 3 of 4 (JPEG on the textured one) and is what marks without WebP get first. Lossless PNG,
 *   cheapest and exact, comes late: it wins only where nothing lossy stays under d. Lossless WebP comes last,
 *   after both lossy WebP and lossless PNG: from them it knows when it cannot win, and is not run then (won on
 *   none of the demo's graphics, at the highest CPU of any).
 * - WebP originals: AVIF where the mark has it (the oracle bench: 26.8 KB re-encoded as WebP, 21.1 KB as AVIF).
 * - transparent: lossy WebP or palette PNG win (each on one of two), lossless WebP far behind. AVIF is tried after
 *   WebP: a header with alpha may hide only opaque pixels, which AVIF serves; real transparency is refused at once.
 */
const PLANS = {
  jpeg: ['avif', 'webp', 'jpeg'],
  opaque: ['avif', 'webp', 'png-palette', 'jpeg-from-png', 'png-lossless', 'webp-lossless'],
  transparent: ['webp', 'avif', 'png-palette', 'zorro', 'png-lossless', 'webp-lossless'],
  animated: ['webp-lossless', 'webp-animated'],
  webp: ['avif', 'webp-reencode'],
} as const satisfies Record<string, readonly ExperimentName[]>;

/** What each experiment needs the mark to allow. */
const NEEDS: Partial<Record<ExperimentName, keyof Capabilities>> = {
  webp: 'webp',
  'webp-lossless': 'webp',
  'webp-animated': 'webp',
  'webp-reencode': 'webp',
  avif: 'avif',
  zorro: 'zorro',
};

/** Lossy experiments on PNG/GIF input, which `lossless-png="true"` rules out. */
const LOSSY_FOR_PNG = new Set<ExperimentName>(['png-palette', 'jpeg-from-png', 'webp', 'avif', 'zorro']);

export interface PlanInput {
  readonly type: ImageFacts['type'];
  readonly frames: number;
  readonly transparent: boolean;
}

function kindOf(input: PlanInput): keyof typeof PLANS | undefined {
  if (input.type === 'jpeg') return 'jpeg';
  if (input.type === 'webp') return input.frames > 1 ? undefined : 'webp';
  if (input.type === 'gif' && input.frames > 1) return 'animated';
  if (input.type === 'png' || input.type === 'gif') return input.transparent ? 'transparent' : 'opaque';
  return undefined;
}

/** The ordered experiments for an input and a mark (SPEC §6), as data. */
export function planFor(input: PlanInput, mark: Capabilities, settings: Pick<EngineSettings, 'losslessPng' | 'aiqaAll'>): ExperimentName[] {
  const kind = kindOf(input);
  if (!kind) return [];
  return PLANS[kind].filter((name) => {
    const needs = NEEDS[name];
    if (needs && !mark[needs]) return false;
    // A ZorroSVG (a JPEG and its alpha mask in an SVG) is the transparent format of browsers that have no other:
    // where WebP or AVIF is allowed, those carry alpha themselves and it costs CPU for a result that rarely wins.
    if (name === 'zorro' && (mark.webp || mark.avif)) return false;
    // Lossy WebP searched under the same d is smaller than JPEG on all but one demo image (by 9–32% on photos,
    // 25–53% on graphics; the other, a photo, came 0.1% larger), so where the mark has WebP a JPEG is almost never
    // its best: it runs only for marks without WebP (its outcome serves the others all the same, when it exists).
    // With aiqa="jpeg" WebP is not searched, and JPEG stays in.
    if ((name === 'jpeg' || name === 'jpeg-from-png') && mark.webp && settings.aiqaAll) return false;
    if (settings.losslessPng && (kind === 'opaque' || kind === 'transparent') && LOSSY_FOR_PNG.has(name)) return false;
    return true;
  });
}

/**
 * Every experiment whose outcome the mark may be served, in its plan or not (another mark's plan may have run it:
 * a JPEG re-encode made for `ic` serves `ic,webp` while its WebP is searched).
 */
export function servableExperiments(facts: Pick<ImageFacts, 'type' | 'frames' | 'hasAlpha'>, mark: Capabilities): ExperimentName[] {
  const kind = kindOf({ type: facts.type, frames: facts.frames, transparent: facts.hasAlpha });
  if (!kind) return [];
  return PLANS[kind].filter((name) => {
    const needs = NEEDS[name];
    return !needs || mark[needs];
  });
}

/**
 * The plan for an original known by its header facts only (the store's record): "transparent" is the header's
 * alpha channel. The image route and the status page both judge "all experiments have run" by this one function.
 */
export function planForFacts(facts: Pick<ImageFacts, 'type' | 'frames' | 'hasAlpha'>, mark: Capabilities, settings: Pick<EngineSettings, 'losslessPng' | 'aiqaAll'>): ExperimentName[] {
  return planFor({ type: facts.type, frames: facts.frames, transparent: facts.hasAlpha }, mark, settings);
}
