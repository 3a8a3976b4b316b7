/**
 * AIQA exactness and cost (issue "The image engine", SPEC §6): for every photograph of fixtures/photos and
 * d ∈ {0.001, 0.002, 0.004}, the search's quality against an exhaustive scan of every quality from 20 to 95
 * (the baseline, measured in the same run), encodes per search, and bytes against the exhaustive answer.
 * JPEG with mozjpeg, photos scaled to 480 px wide to keep the exhaustive scan short.
 * Usage: npm run bench:aiqa
 */
import { readdirSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { aiqaSearch } from '../src/images/aiqa.js';
import { DssimReference } from '../src/images/dssim.js';
import { decodeRgba } from '../src/images/rgba.js';
import { runStage } from './support/process.js';

export interface AiqaResult {
  readonly searches: number;
  readonly exactPercent: number;
  readonly withinOne: number;
  readonly aboveD: number;
  readonly encodesPerSearch: number;
  readonly exhaustiveEncodesPerSearch: number;
  readonly bytesVsExhaustive: number;
  readonly rows: Record<string, Record<string, string | number>>;
}

export async function benchAiqa(): Promise<AiqaResult> {
  const dir = new URL('../fixtures/photos/', import.meta.url);
  const TARGETS = [0.001, 0.002, 0.004];
  const rows: Record<string, Record<string, string | number>> = {};
  let searches = 0;
  let exact = 0;
  let withinOne = 0;
  let aboveD = 0;
  let encodes = 0;
  let exhaustiveEncodes = 0;
  let searchBytes = 0;
  let exhaustiveBytes = 0;
  for (const file of readdirSync(dir).sort()) {
    const source = await sharp(readFileSync(new URL(file, dir))).resize({ width: 480, withoutEnlargement: true }).removeAlpha().png().toBuffer();
    const reference = new DssimReference(await decodeRgba(source));
    const encoded = new Map<number, Buffer>();
    const curve = new Map<number, number>();
    for (let q = 20; q <= 95; q += 1) {
      const bytes = await sharp(source).jpeg({ quality: q, mozjpeg: true }).toBuffer();
      encoded.set(q, bytes);
      curve.set(q, reference.compare(await decodeRgba(bytes)));
    }
    const cells: Record<string, string | number> = {};
    for (const d of TARGETS) {
      let expected: number | undefined;
      for (let q = 20; q <= 95 && expected === undefined; q += 1) if (curve.get(q)! <= d) expected = q;
      const result = await aiqaSearch({
        target: d,
        minQuality: 20,
        maxQuality: 95,
        encode: (q) => Promise.resolve(encoded.get(q)!),
        measure: (bytes) => Promise.resolve(curve.get([...encoded].find(([, b]) => b === bytes)![0])!),
      });
      exhaustiveEncodes += 76;
      if (!result.found || expected === undefined) {
        cells[`d=${d}`] = result.found === (expected !== undefined) ? 'none (both)' : 'MISMATCH';
        continue;
      }
      searches += 1;
      encodes += result.probes.length;
      if (result.quality === expected) exact += 1;
      if (Math.abs(result.quality - expected) <= 1) withinOne += 1;
      if (result.dssim > d) aboveD += 1;
      searchBytes += result.bytes.length;
      exhaustiveBytes += encoded.get(expected)!.length;
      cells[`d=${d}`] = `q${result.quality}${result.quality === expected ? '' : ` (exh. ${expected})`}, ${result.probes.length} enc`;
    }
    rows[file] = cells;
  }
  return {
    searches,
    exactPercent: (100 * exact) / searches,
    withinOne,
    aboveD,
    encodesPerSearch: encodes / searches,
    exhaustiveEncodesPerSearch: exhaustiveEncodes / (searches || 1),
    bytesVsExhaustive: searchBytes / exhaustiveBytes,
    rows,
  };
}

await runStage(import.meta.url, () => benchAiqa(), ({ rows, searches, exactPercent, withinOne, aboveD, encodesPerSearch, exhaustiveEncodesPerSearch, bytesVsExhaustive }) => {
  console.log('\nAIQA search against an exhaustive scan (mozjpeg, 20–95):');
  console.table(rows);
  console.table({
    'exhaustive scan (baseline)': { searches, 'exact %': 100, 'encodes per search': +exhaustiveEncodesPerSearch.toFixed(2), 'bytes vs exhaustive': 1 },
    'AIQA search': {
      searches,
      'exact %': +exactPercent.toFixed(1),
      'encodes per search': +encodesPerSearch.toFixed(2),
      'bytes vs exhaustive': +bytesVsExhaustive.toFixed(4),
    },
  });
  console.log(`within one step: ${withinOne}/${searches}; above d: ${aboveD}`);
});
