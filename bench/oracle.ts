/**
 * The oracle (issue 17): for each still image of a corpus, the smallest output within d that an exhaustive search
 * finds over every format a mark allows, against the engine's own answer for that mark (every experiment of its
 * plan, as the proxy runs them). The search space is the engine's encoders at the engine's settings: JPEG (mozjpeg),
 * WebP and AVIF at every quality from min to max quality, palette PNG at every size libvips writes (2, 4, 16, 256
 * colours: a PNG's bit depths), dithered or not, lossless PNG and WebP, and ZorroSVG by its experiment. Within d
 * means the engine's acceptance: SPEC §9's DSSIM, transparency judged over black, white and grey, AVIF 3% under d
 * (see `AVIF_DECODER_MARGIN`). Exact and cheaper than measuring all: each format's encodes are measured smallest
 * first until one is within d. Every engine answer is measured again and must be within d too.
 * Usage: npm run bench:oracle [-- --corpus site|<folder>] [--limit N] (the public corpora: fixtures/README.md)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Capabilities } from '../src/client/index.js';
import { COMPRESSION_PRESETS } from '../src/config/index.js';
import { type EngineSettings, wireSize } from '../src/images/experiment.js';
import { AVIF_DECODER_MARGIN, AVIF_EFFORT, encodeAvif } from '../src/images/experiments/avif.js';
import { encodeJpeg } from '../src/images/experiments/jpeg.js';
import { encodePalette, PALETTE_SIZES } from '../src/images/experiments/png-palette.js';
import { encodeWebp } from '../src/images/experiments/webp.js';
import { optimizeAll } from '../src/images/optimize.js';
import { measureAgainst, type Original, prepareOriginal } from '../src/images/original.js';
import { EXPERIMENTS } from '../src/images/plan.js';
import { capabilitiesOfMark } from '../src/marks/index.js';
import { runStage } from './support/process.js';

const SETTINGS: EngineSettings = { ...COMPRESSION_PRESETS.balanced, minQuality: 20, maxQuality: 95, aiqaAll: true, losslessPng: false, avifEffort: AVIF_EFFORT };
const MARKS = ['ic', 'ic,webp,avif,zorro'];
const LIMITS = { maxPixels: 50e6, maxFrames: 1000 };
const CORPORA: Record<string, URL> = { site: new URL('../fixtures/site/img/', import.meta.url) };

export interface OracleRow {
  readonly mark: string;
  readonly images: number;
  readonly originalBytes: number;
  readonly engineBytes: number;
  readonly oracleBytes: number;
  /** The engine's saving as a share of the oracle's (issue 17: at least 0.97). */
  readonly share: number;
  /** Engine answers measured again above their target (must be none). */
  readonly overD: string[];
  /** Where the oracle beat the engine by the most bytes: image, engine's answer, oracle's. */
  readonly worst: { image: string; engine: string; oracle: string; bytes: number }[];
}

export interface OracleResult {
  readonly corpus: string;
  readonly d: number;
  readonly rows: OracleRow[];
}

interface Candidate {
  readonly what: string;
  readonly bytes: number;
  /** What a mark must allow to be sent it (none: every mark may). */
  readonly needs?: 'webp' | 'avif' | 'zorro';
}

/** The smallest encode within `target` of one lossy encoder over all its `settings` (or none): smallest measured first. */
async function smallestWithin<T>(original: Original, settings: readonly T[], label: (setting: T) => string, encode: (setting: T) => Promise<Buffer>, target: number): Promise<Candidate | undefined> {
  const encoded: { setting: T; bytes: Buffer }[] = [];
  for (const setting of settings) encoded.push({ setting, bytes: await encode(setting) });
  encoded.sort((a, b) => a.bytes.length - b.bytes.length);
  for (const { setting, bytes } of encoded) {
    if (bytes.length >= original.bytes.length) return undefined;
    if ((await measureAgainst(original, bytes, target)) <= target) return { what: label(setting), bytes: bytes.length };
  }
  return undefined;
}

/** The oracle's candidates for one image: the smallest of each format the capabilities allow, each saying what it needs. */
async function oracleCandidates(original: Original, mark: Capabilities): Promise<Candidate[]> {
  const { d, minQuality, maxQuality } = SETTINGS;
  const qualities = Array.from({ length: maxQuality - minQuality + 1 }, (_, i) => minQuality + i);
  const found: (Candidate | undefined)[] = [];
  const lossless = async (name: 'png-lossless' | 'webp-lossless' | 'zorro') => {
    const outcome = await EXPERIMENTS[name].run(original, SETTINGS);
    return outcome.ok ? { what: name, bytes: wireSize(outcome.variant) } : undefined;
  };
  found.push(await lossless('png-lossless'));
  if (!original.transparent) found.push(await smallestWithin(original, qualities, (quality) => `jpeg q${quality}`, (quality) => encodeJpeg(original, quality), d));
  const palettes = PALETTE_SIZES.flatMap((colours) => [1, 0].map((dither) => ({ colours, dither })));
  found.push(await smallestWithin(original, palettes, (p) => `palette ${p.colours}${p.dither ? ' dithered' : ''}`, (p) => encodePalette(original, p.colours, p.dither), d));
  const needing = (needs: Candidate['needs'], candidate: Candidate | undefined) => (candidate ? { ...candidate, needs } : undefined);
  if (mark.webp) {
    found.push(needing('webp', await lossless('webp-lossless')));
    found.push(needing('webp', await smallestWithin(original, qualities, (quality) => `webp q${quality}`, (quality) => encodeWebp(original, quality), d)));
  }
  if (mark.avif && !original.transparent) found.push(needing('avif', await smallestWithin(original, qualities, (quality) => `avif q${quality}`, (quality) => encodeAvif(original, quality, AVIF_EFFORT), d * AVIF_DECODER_MARGIN)));
  if (mark.zorro && original.transparent) found.push(needing('zorro', await lossless('zorro')));
  return found.filter((candidate): candidate is Candidate => candidate !== undefined);
}

function stillImages(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? stillImages(join(dir, entry.name)) : [join(dir, entry.name)]))
    .filter((file) => /\.(jpe?g|png|gif|webp)$/i.test(file))
    .sort();
}

/** The union of the marks' capabilities: the oracle searches each image once, and each mark takes what it allows. */
function widest(marks: readonly Capabilities[]): Capabilities {
  return { webp: marks.some((mark) => mark.webp), avif: marks.some((mark) => mark.avif), zorro: marks.some((mark) => mark.zorro) };
}

/** `corpus`: a name in `CORPORA`, or a folder of images (the public corpora of fixtures/README.md). */
export async function benchOracle(corpus: string, limit = Infinity): Promise<OracleResult> {
  const root = CORPORA[corpus] ?? (existsSync(corpus) ? pathToFileURL(`${resolve(corpus)}/`) : undefined);
  if (!root) throw new Error(`no corpus "${corpus}" (${Object.keys(CORPORA).join(', ')}, or a folder)`);
  const originals: { name: string; original: Original }[] = [];
  for (const file of stillImages(fileURLToPath(root))) {
    const prepared = await prepareOriginal(readFileSync(file), LIMITS);
    // Animations are left out: the oracle searches still images (the engine's animated WebP is searched per frame).
    if (prepared.ok && prepared.original.facts.frames === 1) originals.push({ name: relative(fileURLToPath(root), file), original: prepared.original });
    if (originals.length >= limit) break;
  }
  const marks = MARKS.map((mark) => capabilitiesOfMark(mark)!);
  const searched = new Map<Original, Candidate[]>();
  for (const { original } of originals) searched.set(original, await oracleCandidates(original, widest(marks)));
  const rows: OracleRow[] = [];
  for (const markText of MARKS) {
    const mark = capabilitiesOfMark(markText)!;
    let originalBytes = 0;
    let engineBytes = 0;
    let oracleBytes = 0;
    const overD: string[] = [];
    const gaps: OracleRow['worst'] = [];
    for (const { name, original } of originals) {
      const size = original.bytes.length;
      // A WebP or AVIF original for a mark without its format: the proxy converts it once (a JPEG within d, or a PNG
      // for alpha) and the original is no candidate.
      const type = original.facts.type;
      const originalAllowed = !((type === 'webp' && !mark.webp) || (type === 'avif' && !mark.avif));
      const { best: planned } = await optimizeAll(original, mark, SETTINGS);
      const converted = originalAllowed ? undefined : await EXPERIMENTS.transform.run(original, { ...SETTINGS, transform: { format: original.facts.hasAlpha ? 'png' : 'jpeg', dpr: 1, algorithm: 'auto' } });
      const best = planned ?? (converted?.ok ? converted.variant : undefined);
      const engine = best ? wireSize(best) : size;
      if (best && !best.lossless && best.format !== 'svg') {
        const target = best.format === 'avif' ? SETTINGS.d * AVIF_DECODER_MARGIN : SETTINGS.d;
        const measured = await measureAgainst(original, best.bytes);
        if (measured > target) overD.push(`${name}: ${best.experiment} ${measured.toFixed(5)}`);
      }
      const candidates = searched.get(original)!.filter((candidate) => !candidate.needs || mark[candidate.needs]);
      const oracle = Math.min(originalAllowed ? size : Infinity, engine, ...candidates.map((candidate) => candidate.bytes));
      originalBytes += size;
      engineBytes += engine;
      oracleBytes += oracle;
      const winner = candidates.find((candidate) => candidate.bytes === oracle);
      if (engine > oracle) gaps.push({ image: name, engine: best ? `${best.experiment}${best.quality === undefined ? '' : ` q${best.quality}`} ${engine}` : `original ${size}`, oracle: `${winner?.what ?? 'original'} ${oracle}`, bytes: engine - oracle });
      process.stderr.write(`oracle ${markText} ${name}: engine ${engine}, oracle ${oracle}\n`);
    }
    const share = originalBytes - oracleBytes > 0 ? (originalBytes - engineBytes) / (originalBytes - oracleBytes) : 1;
    rows.push({ mark: markText, images: originals.length, originalBytes, engineBytes, oracleBytes, share, overD, worst: gaps.sort((a, b) => b.bytes - a.bytes).slice(0, 5) });
  }
  return { corpus, d: SETTINGS.d, rows };
}

await runStage(
  import.meta.url,
  (args) => {
    const { values } = parseArgs({ args, options: { corpus: { type: 'string' }, limit: { type: 'string' } } });
    return benchOracle(values.corpus ?? 'site', values.limit === undefined ? Infinity : Number(values.limit));
  },
  (result) => {
    console.log(`\nThe engine against an exhaustive search, corpus ${result.corpus}, d = ${result.d}:`);
    const kb = (bytes: number) => +(bytes / 1024).toFixed(1);
    console.table(
      Object.fromEntries(
        result.rows.map((row) => [
          `mark ${row.mark} (${row.images} images)`,
          {
            'original KB': kb(row.originalBytes),
            'oracle KB (baseline)': kb(row.oracleBytes),
            'engine KB': kb(row.engineBytes),
            'share of the oracle saving': `${(100 * row.share).toFixed(1)}%`,
            'over d': row.overD.length,
          },
        ]),
      ),
    );
    for (const row of result.rows) {
      for (const gap of row.worst) console.log(`  ${row.mark}: ${gap.image}: engine ${gap.engine}, oracle ${gap.oracle}`);
      for (const over of row.overD) console.log(`  ${row.mark}: OVER d: ${over}`);
    }
  },
);
