import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { COMPRESSION_PRESETS, type PresetName } from '../config/index.js';
import { type EngineSettings, type ExperimentName, wireSize } from '../images/experiment.js';
import { AVIF_EFFORT } from '../images/experiments/avif.js';
import { optimizeAll } from '../images/optimize.js';
import { prepareOriginal } from '../images/original.js';
import { capabilitiesOfMark } from '../marks/index.js';

export const OPTIMIZE_USAGE = `usage: slimproxy optimize <dir> [--mark ic,webp,avif,zorro] [--preset performance|balanced|quality]
                          [--d N] [--quality N] [--aiqa jpeg|all] [--out <dir>]

Runs every experiment of the plan on each image under <dir> (as the proxy would for that mark, all at once),
prints what each image would become, and with --out writes the winners there.`;

/** The experiments that search their quality under d (their encodes make the "encodes per search" figure). */
const SEARCHING = new Set<ExperimentName>(['jpeg', 'jpeg-from-png', 'webp', 'webp-reencode', 'avif', 'zorro']);

class UsageError extends Error {}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : entry.isFile() ? [join(dir, entry.name)] : []))
    .sort();
}

function settingsFrom(values: { preset?: string; d?: string; quality?: string; aiqa?: string }): EngineSettings {
  const preset = (values.preset ?? 'balanced') as PresetName;
  if (!Object.hasOwn(COMPRESSION_PRESETS, preset)) throw new UsageError(`--preset must be one of ${Object.keys(COMPRESSION_PRESETS).join(', ')}`);
  const d = values.d === undefined ? COMPRESSION_PRESETS[preset].d : Number(values.d);
  const quality = values.quality === undefined ? COMPRESSION_PRESETS[preset].quality : Number(values.quality);
  if (!Number.isFinite(d) || d > 1) throw new UsageError('--d must be a number up to 1 (0 or less: fixed quality)');
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new UsageError('--quality must be an integer from 1 to 100');
  if (values.aiqa !== undefined && values.aiqa !== 'jpeg' && values.aiqa !== 'all') throw new UsageError('--aiqa must be "jpeg" or "all"');
  return { d, quality, minQuality: 20, maxQuality: 95, aiqaAll: values.aiqa !== 'jpeg', losslessPng: false, avifEffort: AVIF_EFFORT };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `slimproxy optimize`: returns the exit code. */
export async function runOptimize(argv: string[], out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  let dir: string;
  let settings: EngineSettings;
  let markText: string;
  let outDir: string | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        mark: { type: 'string', default: 'ic,webp,avif,zorro' },
        preset: { type: 'string' },
        d: { type: 'string' },
        quality: { type: 'string' },
        aiqa: { type: 'string' },
        out: { type: 'string' },
      },
    });
    if (positionals.length !== 1) throw new UsageError('give one folder of images');
    dir = positionals[0]!;
    markText = values.mark;
    settings = settingsFrom(values);
    outDir = values.out;
  } catch (error) {
    err.write(`slimproxy optimize: ${(error as Error).message}\n${OPTIMIZE_USAGE}\n`);
    return 2;
  }
  const mark = capabilitiesOfMark(markText);
  if (!mark) {
    err.write(`slimproxy optimize: --mark must look like ic,webp,avif,zorro (in that order, any of the last three)\n`);
    return 2;
  }

  let files: string[];
  try {
    files = filesUnder(dir);
  } catch (error) {
    err.write(`slimproxy optimize: cannot read ${dir}: ${(error as Error).message}\n`);
    return 2;
  }
  const rows: string[][] = [];
  let originalTotal = 0;
  let bestTotal = 0;
  let searches = 0;
  let searchEncodes = 0;
  let images = 0;
  const started = performance.now();
  for (const [index, file] of files.entries()) {
    const name = relative(dir, file);
    if (err.isTTY) {
      const done = Math.round((20 * index) / files.length);
      err.write(`\r[${'#'.repeat(done)}${'.'.repeat(20 - done)}] ${index + 1}/${files.length} ${name.slice(0, 50).padEnd(50)}`);
    }
    const bytes = readFileSync(file);
    const prepared = await prepareOriginal(bytes, { maxPixels: 50e6, maxFrames: 1000 });
    if (!prepared.ok) {
      if (prepared.reason !== 'not an image' && prepared.reason !== 'empty body') rows.push([name, kb(bytes.length), '', '', `skipped: ${prepared.reason}`, '', '', '', '']);
      continue;
    }
    const imageStarted = performance.now();
    const { best, records } = await optimizeAll(prepared.original, mark, settings);
    const ms = Math.round(performance.now() - imageStarted);
    const encodes = records.reduce((sum, r) => sum + r.outcome.encodes, 0);
    for (const record of records) {
      if (SEARCHING.has(record.experiment) && settings.d > 0 && record.outcome.encodes > 0) {
        searches += 1;
        searchEncodes += record.outcome.encodes;
      }
    }
    const size = best ? wireSize(best) : bytes.length;
    images += 1;
    originalTotal += bytes.length;
    bestTotal += size;
    rows.push([
      name,
      kb(bytes.length),
      kb(size),
      `${((100 * (bytes.length - size)) / bytes.length).toFixed(1)}%`,
      best?.experiment ?? 'original',
      best?.quality === undefined ? '' : String(best.quality),
      best ? best.dssim.toFixed(5) : '',
      String(encodes),
      String(ms),
    ]);
    if (outDir && best) {
      const target = join(outDir, `${name}.${best.format}`);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, best.bytes);
    }
  }
  if (err.isTTY) err.write('\r\x1b[K');
  rows.push([
    `total (${images} images)`,
    kb(originalTotal),
    kb(bestTotal),
    originalTotal > 0 ? `${((100 * (originalTotal - bestTotal)) / originalTotal).toFixed(1)}%` : '',
    '',
    '',
    '',
    '',
    String(Math.round(performance.now() - started)),
  ]);
  out.write(`${formatTable(['image', 'original', 'best', 'saving', 'winner', 'quality', 'DSSIM', 'encodes', 'ms'], rows)}\n`);
  out.write(
    `mark ${markText}, d ${settings.d}, quality ${settings.quality}` +
      (searches > 0 ? `; ${searches} quality searches, ${(searchEncodes / searches).toFixed(2)} encodes each on average` : '') +
      '\n',
  );
  return 0;
}
