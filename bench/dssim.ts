/**
 * DSSIM speed (issue "The image engine"): milliseconds per megapixel per candidate, the original's side prepared
 * once, one core. Baseline in the same run: decoding the candidate with sharp (work every comparison needs
 * anyway) and a plain copy of its pixels.
 * Usage: npm run bench:dssim
 */
import { readFileSync } from 'node:fs';
import { DssimReference } from '../src/images/dssim.js';
import { decodeRgba } from '../src/images/rgba.js';
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
function timeMs(run: () => unknown, repeats = 15): { best: number; median: number } {
  for (let i = 0; i < 3; i += 1) run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i += 1) {
    const started = performance.now();
    run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { best: times[0]!, median: times[Math.floor(times.length / 2)]! };
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
  };
}

await runStage(import.meta.url, () => benchDssim(), ({ rows }) => {
  console.log('\nDSSIM per candidate, original prepared once, one core:');
  console.table(rows);
});
