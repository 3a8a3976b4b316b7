/**
 * Trains the `method="ml"` quality model (src/images/quality-model.ts) on a folder of photographs and evaluates
 * it on another; writes the weights into src/images/quality-model-weights.ts.
 *
 * Targets are the experiments' own answers: for JPEG the exact lowest quality under d from an exhaustive scan of
 * every quality (min to max), for WebP and AVIF the DSSIM search of the experiments (exact against a scan in
 * bench/aiqa.ts). One ridge regression per format on [1, log d, features] → log s.
 *
 * Evaluation (JPEG, where the scan gives the truth; the search is replayed on the scanned curve): encodes per
 * search and |q − q_exhaustive| for `dssim` (search from the typical curve), `ml` (search from the prediction) and
 * `ml` with allowed-error="1" (the prediction as it is), on the held-out folder and leave-one-out on the training
 * folder.
 *
 * Usage: npm run train:quality -- <train-folder> [--evaluate <folder>] [--out <file.ts>] [--no-write] [--cache <file.json>] [--ridge λ]
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { aiqaSearch, scaleFactor } from '../src/images/aiqa.js';
import type { EngineSettings } from '../src/images/experiment.js';
import { type Original, fromPixels, measureAgainst, prepareOriginal } from '../src/images/original.js';
import { EXPERIMENTS } from '../src/images/plan.js';
import { FEATURE_NAMES, imageFeatures, jpegSourceQuality, type ModelFormat, modelRow, predictQuality, type QualityModel } from '../src/images/quality-model.js';

const TARGETS = [0.001, 0.002, 0.004];
const MIN_QUALITY = 20;
const MAX_QUALITY = 95;
const LIMITS = { maxPixels: 50e6, maxFrames: 1 };
/** Ridge strength, chosen by leave-one-out on the training folder (never on the evaluation folder). */
let ridge = 3e-3;

interface Sample {
  readonly name: string;
  readonly features: number[];
  /** JPEG: DSSIM of every quality from MIN to MAX (the exhaustive scan). */
  readonly jpegCurve: Map<number, number>;
  /** Per format and d: the quality the experiment's search found (undefined: none under d). */
  readonly found: Map<string, number | undefined>;
}

const key = (format: ModelFormat, d: number) => `${format}@${d}`;

function imagesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? imagesUnder(join(dir, entry.name)) : /\.(jpe?g|png)$/i.test(entry.name) ? [join(dir, entry.name)] : []))
    .sort();
}

/** Opaque still images of at least 128×128: what the model is for (photographs, screenshots, drawings). */
async function load(dir: string): Promise<{ name: string; original: Original }[]> {
  const out: { name: string; original: Original }[] = [];
  for (const file of imagesUnder(dir)) {
    const prepared = await prepareOriginal(readFileSync(file), LIMITS);
    if (!prepared.ok || prepared.original.transparent || prepared.original.pixels.width * prepared.original.pixels.height < 128 * 128) continue;
    out.push({ name: relative(dir, file), original: prepared.original });
  }
  return out;
}

/** Curves and search results are slow to make and do not depend on the features: kept between runs. */
type Cache = Record<string, { curve: [number, number][]; found: [string, number | null][] }>;
let cache: Cache = {};

async function sample(name: string, original: Original, withSearches: boolean): Promise<Sample> {
  const features = imageFeatures(original.pixels, jpegSourceQuality(original.bytes));
  const cached = cache[`${name}:${original.bytes.length}`];
  if (cached && (!withSearches || cached.found.length > TARGETS.length)) {
    return { name, features, jpegCurve: new Map(cached.curve), found: new Map(cached.found.map(([k, v]) => [k, v ?? undefined])) };
  }
  const jpegCurve = new Map<number, number>();
  for (let q = MIN_QUALITY; q <= MAX_QUALITY; q += 1) {
    const bytes = await fromPixels(original, { opaque: true }).jpeg({ quality: q, mozjpeg: true }).toBuffer();
    jpegCurve.set(q, await measureAgainst(original, bytes));
  }
  const found = new Map<string, number | undefined>();
  for (const d of TARGETS) {
    found.set(key('jpeg', d), exhaustive(jpegCurve, d));
    if (!withSearches) continue;
    // avifEffort 1: the quality comes from the search; the final encode at a higher effort does not change it.
    const settings: EngineSettings = { d, quality: 80, minQuality: MIN_QUALITY, maxQuality: MAX_QUALITY, aiqaAll: true, losslessPng: false, avifEffort: 1, method: 'dssim' };
    for (const format of ['webp', 'avif'] as const) {
      const outcome = await EXPERIMENTS[format].run(original, settings);
      found.set(key(format, d), outcome.ok ? outcome.variant.quality : undefined);
    }
  }
  process.stderr.write('.');
  cache[`${name}:${original.bytes.length}`] = { curve: [...jpegCurve], found: [...found].map(([k, v]) => [k, v ?? null]) };
  return { name, features, jpegCurve, found };
}

function exhaustive(curve: ReadonlyMap<number, number>, d: number): number | undefined {
  for (let q = MIN_QUALITY; q <= MAX_QUALITY; q += 1) if (curve.get(q)! <= d) return q;
  return undefined;
}

/** Ridge regression: (XᵀX + λI′) w = Xᵀy (the bias not penalised), by Gaussian elimination. */
function fit(rows: number[][], targets: number[]): number[] {
  const n = rows[0]!.length;
  const a = Array.from({ length: n }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (j === n ? 0 : i === j && i > 0 ? ridge * rows.length : 0)));
  rows.forEach((row, r) => {
    for (let i = 0; i < n; i += 1) {
      for (let j = 0; j < n; j += 1) a[i]![j]! += row[i]! * row[j]!;
      a[i]![n]! += row[i]! * targets[r]!;
    }
  });
  for (let c = 0; c < n; c += 1) {
    let pivot = c;
    for (let r = c + 1; r < n; r += 1) if (Math.abs(a[r]![c]!) > Math.abs(a[pivot]![c]!)) pivot = r;
    [a[c], a[pivot]] = [a[pivot]!, a[c]!];
    for (let r = 0; r < n; r += 1) {
      if (r === c || a[c]![c] === 0) continue;
      const factor = a[r]![c]! / a[c]![c]!;
      for (let j = c; j <= n; j += 1) a[r]![j]! -= factor * a[c]![j]!;
    }
  }
  return a.map((row, i) => row[n]! / (row[i]! || 1));
}

function train(samples: readonly Sample[]): QualityModel {
  const weights = {} as Record<ModelFormat, number[]>;
  for (const format of ['jpeg', 'webp', 'avif'] as const) {
    const rows: number[][] = [];
    const targets: number[] = [];
    for (const s of samples) {
      for (const d of TARGETS) {
        const quality = s.found.get(key(format, d));
        if (quality === undefined) continue;
        rows.push(modelRow(s.features, d));
        targets.push(Math.log(scaleFactor(quality)));
      }
    }
    weights[format] = rows.length > FEATURE_NAMES.length + 2 ? fit(rows, targets) : [];
  }
  return { features: FEATURE_NAMES, weights };
}

interface Figures {
  searches: number;
  dssimEncodes: number;
  mlEncodes: number;
  dssimError: number;
  mlError: number;
  asIsError: number;
  asIsAboveD: number;
}

/** Replays the search on each scanned JPEG curve, from the typical start (`dssim`) and from the model (`ml`). */
async function evaluate(samples: readonly Sample[], modelFor: (s: Sample) => QualityModel): Promise<Figures> {
  const f: Figures = { searches: 0, dssimEncodes: 0, mlEncodes: 0, dssimError: 0, mlError: 0, asIsError: 0, asIsAboveD: 0 };
  for (const s of samples) {
    const model = modelFor(s);
    for (const d of TARGETS) {
      const truth = exhaustive(s.jpegCurve, d);
      if (truth === undefined) continue;
      const replay = (initialQuality?: number) =>
        aiqaSearch({
          target: d,
          minQuality: MIN_QUALITY,
          maxQuality: MAX_QUALITY,
          ...(initialQuality === undefined ? {} : { initialQuality }),
          encode: (q) => Promise.resolve(Buffer.from([q])),
          measure: (bytes) => Promise.resolve(s.jpegCurve.get(bytes[0]!)!),
        });
      const predicted = Math.min(MAX_QUALITY, Math.max(MIN_QUALITY, Math.round(predictQuality('jpeg', s.features, d, model))));
      const plain = await replay();
      const guided = await replay(predicted);
      f.searches += 1;
      f.dssimEncodes += plain.probes.length;
      f.mlEncodes += guided.probes.length;
      f.dssimError += plain.found ? Math.abs(plain.quality - truth) : MAX_QUALITY;
      f.mlError += guided.found ? Math.abs(guided.quality - truth) : MAX_QUALITY;
      f.asIsError += Math.abs(predicted - truth);
      if (s.jpegCurve.get(predicted)! > d) f.asIsAboveD += 1;
    }
  }
  return f;
}

function report(title: string, f: Figures): void {
  const per = (value: number) => +(value / (f.searches || 1)).toFixed(2);
  console.log(`\n${title} (${f.searches} searches, JPEG, d ∈ {${TARGETS.join(', ')}}):`);
  console.table({
    'dssim (search from the typical curve)': { 'mean encodes': per(f.dssimEncodes), 'mean |q − q_exhaustive|': per(f.dssimError), 'above d': 0 },
    'ml (search from the prediction)': { 'mean encodes': per(f.mlEncodes), 'mean |q − q_exhaustive|': per(f.mlError), 'above d': 0 },
    'ml, allowed-error="1" (prediction as is)': { 'mean encodes': 1, 'mean |q − q_exhaustive|': per(f.asIsError), 'above d': `${f.asIsAboveD}/${f.searches}` },
  });
}

function weightsSource(model: QualityModel, trainedOn: string, count: number): string {
  const vector = (values: readonly number[]) => `[${values.map((v) => +v.toFixed(5)).join(', ')}]`;
  return `import type { QualityModel } from './quality-model-shape.js';

/**
 * Written by bench/train-quality-model.ts (\`npm run train:quality\`): do not edit by hand. Trained on ${count} images of
 * ${trainedOn}, d ∈ {${TARGETS.join(', ')}}, ridge ${ridge}; rows are [1, log d, ${FEATURE_NAMES.join(', ')}] → log s.
 */
export const QUALITY_MODEL: QualityModel = {
  features: ${JSON.stringify(FEATURE_NAMES)},
  weights: {
    jpeg: ${vector(model.weights.jpeg)},
    webp: ${vector(model.weights.webp)},
    avif: ${vector(model.weights.avif)},
  },
};
`;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    evaluate: { type: 'string' },
    out: { type: 'string', default: 'src/images/quality-model-weights.ts' },
    'no-write': { type: 'boolean', default: false },
    cache: { type: 'string' },
    ridge: { type: 'string' },
  },
});
const trainDir = positionals[0];
if (!trainDir) {
  console.error('usage: npm run train:quality -- <train-folder> [--evaluate <folder>] [--out <file.ts>] [--no-write]');
  process.exit(2);
}
const started = performance.now();
if (values.ridge) ridge = Number(values.ridge);
if (values.cache && existsSync(values.cache)) cache = JSON.parse(readFileSync(values.cache, 'utf8')) as Cache;
const training: Sample[] = [];
for (const { name, original } of await load(trainDir)) training.push(await sample(name, original, true));
const model = train(training);
report(`Leave one image out, ${trainDir}`, await evaluate(training, (held) => train(training.filter((s) => s !== held))));
if (values.evaluate) {
  const held: Sample[] = [];
  for (const { name, original } of await load(values.evaluate)) held.push(await sample(name, original, false));
  report(`Trained on ${trainDir} (${training.length} images), evaluated on ${values.evaluate} (${held.length} images)`, await evaluate(held, () => model));
}
if (values.cache) writeFileSync(values.cache, JSON.stringify(cache));
if (!values['no-write']) {
  writeFileSync(values.out, weightsSource(model, trainDir, training.length));
  console.log(`\nwrote ${values.out}`);
}
console.log(`${((performance.now() - started) / 1000).toFixed(0)} s`);
