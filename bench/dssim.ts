/**
 * DSSIM speed (issue "The image engine"): milliseconds per megapixel per candidate, the original's side prepared
 * once, one core. Baseline in the same run: decoding the candidate with sharp (work every comparison needs
 * anyway) and a plain copy of its pixels.
 * Then (issue 16) the layouts a memory bound may force, on a generated pair as wide as a 50 MP photo: the whole
 * image, strips with the original's planes kept, strips redoing them for every candidate; and what each layout
 * holds per pixel at 50 MP, from its plan.
 * Usage: npm run bench:dssim
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { type DssimLayout, DssimReference, dssimCost } from '../src/images/dssim.js';
import { decodeRgba, type RgbaImage } from '../src/images/rgba.js';
import { runStage } from './support/process.js';

const dir = new URL('../fixtures/dssim-vectors/', import.meta.url);
const pairs = [
  ['astronaut.png', 'astronaut-q60.jpg'],
  ['coffee.png', 'coffee-q50.webp'],
  ['chelsea.png', 'chelsea-q30.jpg'],
  ['alpha.png', 'alpha-q60.webp'],
] as const;

/**
 * Times `run` `repeats` times after a warm-up; returns the fastest and the median. On a shared machine the fastest
 * run is the one least disturbed by other tenants; the median shows how much they disturb.
 */
function timeMs(run: () => unknown, repeats = 15, warmups = 3): { best: number; median: number } {
  for (let i = 0; i < warmups; i += 1) run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i += 1) {
    const started = performance.now();
    run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { best: times[0]!, median: times[Math.floor(times.length / 2)]! };
}

/** Strips as a bound chooses them (128 rows, src/images/dssim.ts `STRIP_ROWS`). */
const LAYOUTS: Record<string, DssimLayout> = {
  whole: { kind: 'whole' },
  'strips, planes kept': { kind: 'strips', rows: 128, keep: true },
  'strips, planes redone': { kind: 'strips', rows: 128, keep: false },
};

/** Gradients and noise, as wide as 8660×5774 (50 MP), and its JPEG at q70 as the candidate. */
async function widePair(width = 8660, height = 480): Promise<[RgbaImage, RgbaImage]> {
  const data = new Uint8Array(width * height * 4);
  let state = 1;
  for (let i = 0; i < data.length; i += 4) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const x = (i / 4) % width;
    const y = Math.floor(i / 4 / width);
    const noise = (state >>> 26) - 32;
    data[i] = Math.max(0, Math.min(255, (x * 255) / width + noise));
    data[i + 1] = Math.max(0, Math.min(255, (y * 255) / height + noise));
    data[i + 2] = Math.max(0, Math.min(255, ((x + y) * 127) / (width + height) + 64 + noise / 2));
    data[i + 3] = 255;
  }
  const jpeg = await sharp(data, { raw: { width, height, channels: 4 } }).jpeg({ quality: 70 }).toBuffer();
  return [{ width, height, data }, await decodeRgba(jpeg)];
}

/** Per layout: ms/MP per candidate on the wide pair (fewer runs: seconds each), bytes per pixel at 50 MP. */
async function benchLayouts(): Promise<Record<string, Record<string, number>>> {
  const [original, candidate] = await widePair();
  const megapixels = (original.width * original.height) / 1e6;
  const rows: Record<string, Record<string, number>> = {};
  let expected: number | undefined;
  for (const [name, layout] of Object.entries(LAYOUTS)) {
    const reference = new DssimReference(original, { layout });
    const value = reference.compare(candidate);
    // Every layout gives the same value to the bit; a bench that measured a wrong one would mislead.
    if (expected !== undefined && value !== expected) throw new Error(`${name}: ${value}, whole image ${expected}`);
    expected = value;
    // The first comparison above warmed up; a few seconds per run, so three runs.
    const compare = timeMs(() => reference.compare(candidate), 3, 0);
    const fifty = dssimCost(8660, 5774, false, layout);
    rows[name] = {
      'ms/MP (best)': +(compare.best / megapixels).toFixed(1),
      'ms/MP (median)': +(compare.median / megapixels).toFixed(1),
      '50 MP: kept bytes/px': +(fifty.keptBytes / 50e6).toFixed(1),
      '50 MP: peak bytes/px': +(fifty.peakBytes / 50e6).toFixed(1),
    };
  }
  return rows;
}

export interface DssimResult {
  /** Opaque candidates: fastest and median ms per megapixel per candidate (mean over the pairs). */
  readonly opaqueMsPerMpBest: number;
  readonly opaqueMsPerMpMedian: number;
  /** Transparent candidates (compared over black and over white). */
  readonly alphaMsPerMpMedian: number;
  /** Decoding the candidate with sharp (the baseline). */
  readonly decodeMsPerMp: number;
  readonly rows: Record<string, Record<string, number>>;
  /** `benchLayouts`, by layout. */
  readonly layouts: Record<string, Record<string, number>>;
}

export async function benchDssim(): Promise<DssimResult> {
  const rows: Record<string, Record<string, number>> = {};
  for (const [originalName, candidateName] of pairs) {
    const original = await decodeRgba(readFileSync(new URL(originalName, dir)));
    const candidateBytes = readFileSync(new URL(candidateName, dir));
    const candidate = await decodeRgba(candidateBytes);
    const megapixels = (original.width * original.height) / 1e6;
    const reference = new DssimReference(original);
    const compare = timeMs(() => reference.compare(candidate));
    const copy = timeMs(() => Uint8Array.from(candidate.data));
    let decodeTotal = 0;
    for (let i = 0; i < 10; i += 1) {
      const started = performance.now();
      await decodeRgba(candidateBytes);
      decodeTotal += performance.now() - started;
    }
    rows[`${candidateName} (${original.width}×${original.height}${reference.transparent ? ', alpha: 2 comparisons' : ''})`] = {
      'DSSIM ms/MP (best)': +(compare.best / megapixels).toFixed(1),
      'DSSIM ms/MP (median)': +(compare.median / megapixels).toFixed(1),
      'decode ms/MP (baseline)': +(decodeTotal / 10 / megapixels).toFixed(1),
      'copy ms/MP': +(copy.median / megapixels).toFixed(2),
    };
  }
  const values = Object.entries(rows);
  const opaque = values.filter(([name]) => !name.includes('alpha'));
  const mean = (list: typeof values, key: string) => list.reduce((sum, [, row]) => sum + row[key]!, 0) / (list.length || 1);
  return {
    opaqueMsPerMpBest: mean(opaque, 'DSSIM ms/MP (best)'),
    opaqueMsPerMpMedian: mean(opaque, 'DSSIM ms/MP (median)'),
    alphaMsPerMpMedian: mean(values.filter(([name]) => name.includes('alpha')), 'DSSIM ms/MP (median)'),
    decodeMsPerMp: mean(values, 'decode ms/MP (baseline)'),
    rows,
    layouts: await benchLayouts(),
  };
}

await runStage(import.meta.url, () => benchDssim(), ({ rows, layouts }) => {
  console.log('\nDSSIM per candidate, original prepared once, one core:');
  console.table(rows);
  console.log('\nLayouts (8660×480 generated pair, JPEG q70; memory from the plans at 8660×5774):');
  console.table(layouts);
});
