/**
 * Experiment cost (issue "Prove it end to end"): CPU seconds per megapixel to run every experiment of the plan,
 * per mark, over a fixed sample of the demo site's images (photographs, drawings, icons, a GIF animation), one
 * image after the other in this process (CPU time counts every thread: libvips uses several). The baseline in the
 * same run is decoding each original once, which any experiment needs at least.
 * Usage: npm run bench:cost
 */
import { readFileSync } from 'node:fs';
import { COMPRESSION_PRESETS } from '../src/config/index.js';
import { type EngineSettings, wireSize } from '../src/images/experiment.js';
import { AVIF_EFFORT } from '../src/images/experiments/avif.js';
import { optimizeAll, optimizeForMarks } from '../src/images/optimize.js';
import { type Original, prepareOriginal } from '../src/images/original.js';
import { capabilitiesOfMark } from '../src/marks/index.js';
import { cpuSeconds, runStage } from './support/process.js';

const SAMPLE = [
  'photos/astronaut.jpg',
  'photos/china.jpg',
  'earth.jpg',
  'hubble-deep-field-400.jpg',
  'logo.png',
  'drawings/chart-attendance.png',
  'drawings/two-cats.png',
  'icons/lightbulb.png',
  'bg/brick.png',
  'nasa/iss.png',
  'icons/new.gif',
];
const MARKS = ['ic', 'ic,webp', 'ic,webp,avif', 'ic,webp,avif,zorro'];
/** Marks of several browser generations and crawlers asking for the same images (issue 17: outcomes shared). */
const TOGETHER = ['ic', 'ic,webp', 'ic,webp,avif,zorro'];
const SETTINGS: EngineSettings = { ...COMPRESSION_PRESETS.balanced, minQuality: 20, maxQuality: 95, aiqaAll: true, losslessPng: false, avifEffort: AVIF_EFFORT };
const LIMITS = { maxPixels: 50e6, maxFrames: 1000 };

export interface ExperimentCostRow {
  readonly mark: string;
  readonly cpuSecondsPerMp: number;
  readonly saving: number;
}

export interface ExperimentCostResult {
  readonly images: number;
  readonly megapixels: number;
  readonly decodeCpuSecondsPerMp: number;
  readonly marks: ExperimentCostRow[];
  /** `TOGETHER` on the same images, each experiment once for all of them, as the proxy runs them. */
  readonly together: { readonly marks: string[]; readonly cpuSecondsPerMp: number; readonly savings: number[] };
}

export async function benchExperimentCost(): Promise<ExperimentCostResult> {
  const sources = SAMPLE.map((path) => readFileSync(new URL(`../fixtures/site/img/${path}`, import.meta.url)));
  const decode = await cpuSeconds(async () => {
    const originals: Original[] = [];
    for (const bytes of sources) {
      const prepared = await prepareOriginal(bytes, LIMITS);
      if (!prepared.ok) throw new Error(prepared.reason);
      originals.push(prepared.original);
    }
    return originals;
  });
  const originals = decode.result;
  const megapixels = originals.reduce((sum, original) => sum + (original.pixels.width * original.pixels.height) / 1e6, 0);
  const originalBytes = sources.reduce((sum, bytes) => sum + bytes.length, 0);
  const marks: ExperimentCostRow[] = [];
  for (const mark of MARKS) {
    const capabilities = capabilitiesOfMark(mark);
    if (!capabilities) throw new Error(`bad mark ${mark}`);
    const { result: best, seconds } = await cpuSeconds(async () => {
      let bytes = 0;
      for (const original of originals) {
        const { best } = await optimizeAll(original, capabilities, SETTINGS);
        bytes += best ? wireSize(best) : original.bytes.length;
      }
      return bytes;
    });
    marks.push({ mark, cpuSecondsPerMp: seconds / megapixels, saving: 1 - best / originalBytes });
  }
  const capabilities = TOGETHER.map((mark) => capabilitiesOfMark(mark)!);
  const shared = await cpuSeconds(async () => {
    const bytes = TOGETHER.map(() => 0);
    for (const original of originals) {
      (await optimizeForMarks(original, capabilities, SETTINGS)).forEach(({ best }, i) => {
        bytes[i]! += best ? wireSize(best) : original.bytes.length;
      });
    }
    return bytes;
  });
  const together = { marks: TOGETHER, cpuSecondsPerMp: shared.seconds / megapixels, savings: shared.result.map((bytes) => 1 - bytes / originalBytes) };
  return { images: originals.length, megapixels, decodeCpuSecondsPerMp: decode.seconds / megapixels, marks, together };
}

await runStage(import.meta.url, () => benchExperimentCost(), (result) => {
  console.log(`\nExperiment CPU per megapixel, ${result.images} demo images (${result.megapixels.toFixed(2)} MP), preset balanced:`);
  console.table({
    'decode once (baseline)': { 'CPU s/MP': +result.decodeCpuSecondsPerMp.toFixed(2), ratio: 1, saving: '' },
    ...Object.fromEntries(
      result.marks.map((row) => [
        `mark ${row.mark}`,
        { 'CPU s/MP': +row.cpuSecondsPerMp.toFixed(2), ratio: +(row.cpuSecondsPerMp / result.decodeCpuSecondsPerMp).toFixed(1), saving: `${(100 * row.saving).toFixed(1)}%` },
      ]),
    ),
    [`marks ${result.together.marks.join(' + ')} together`]: {
      'CPU s/MP': +result.together.cpuSecondsPerMp.toFixed(2),
      ratio: +(result.together.cpuSecondsPerMp / result.decodeCpuSecondsPerMp).toFixed(1),
      saving: result.together.savings.map((saving) => `${(100 * saving).toFixed(1)}%`).join(' / '),
    },
  });
  const widest = result.marks.find((row) => row.mark === result.together.marks.at(-1));
  if (widest) console.log(`Together they cost ${(result.together.cpuSecondsPerMp / widest.cpuSecondsPerMp).toFixed(2)}× the widest mark alone (issue 17: at most 1.3×).`);
});
