/**
 * Every benchmark of the project in one go (issue "Prove it end to end"): prints one table, each figure next to a
 * baseline measured in the same run, and writes bench/results/latest.json and bench/results/bytes-per-page-view.svg.
 * Usage: npm run bench [-- --origin URL --pages list.txt] [-- --seconds N]
 *   --origin/--pages: bytes per page view on your own site (the other benchmarks use the bundled fixtures).
 *   --seconds: length of each load phase (default 10).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import type { AiqaResult } from './aiqa.js';
import type { DssimResult } from './dssim.js';
import type { ExperimentCostResult } from './experiment-cost.js';
import type { PageViewsResult } from './page-views.js';
import type { RewriteResult } from './rewrite.js';
import type { RequestPathResult } from './request-path.js';
import type { Http2Result } from './http2.js';
import { type Row, bytesChart, formatTable } from './support/report.js';

const { values } = parseArgs({ options: { origin: { type: 'string' }, pages: { type: 'string' }, seconds: { type: 'string', default: '10' } } });
const seconds = Number(values.seconds);
const started = performance.now();

/**
 * Runs one bench module in a process of its own (so that no stage's heap, caches or JIT state disturbs the next,
 * and each peak RSS is that stage's) and returns the result it prints with --json.
 */
async function stage<T>(title: string, file: string, args: string[] = []): Promise<T> {
  process.stderr.write(`bench: ${title} (at ${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', new URL(file, import.meta.url).pathname, '--json', ...args], {
    cwd: new URL('../', import.meta.url),
    // As `npm start` and the Dockerfile run the proxy.
    env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as T;
}

const pages = await stage<PageViewsResult>('bytes per page view in Chromium', 'page-views.ts', [
  ...(values.origin ? ['--origin', values.origin] : []),
  ...(values.pages ? ['--pages', values.pages] : []),
]);
const cost = await stage<ExperimentCostResult>('experiment CPU per megapixel', 'experiment-cost.ts');
const aiqa = await stage<AiqaResult>('AIQA against an exhaustive scan', 'aiqa.ts');
const dssim = await stage<DssimResult>('DSSIM speed', 'dssim.ts');
const rewrite = await stage<RewriteResult>('rewriting', 'rewrite.ts', ['--seconds', String(seconds)]);
const path = await stage<RequestPathResult>('the request path against bare http-proxy-3', 'request-path.ts', ['--seconds', String(seconds)]);
const http2 = await stage<Http2Result>('HTTP/2 against HTTP/1.1 on one HTTPS listener', 'http2.ts', ['--seconds', String(seconds)]);

const ratio = (value: number, baseline: number) => (baseline > 0 ? value / baseline : Number.NaN);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const widestAlone = cost.marks.find((row) => row.mark === cost.together.marks.at(-1))?.cpuSecondsPerMp ?? Number.NaN;
const rows: Row[] = [
  ...pages.pages.map((page) => ({ group: 'bytes per page view', metric: page.page, baseline: kb(page.direct), value: kb(page.proxy), ratio: ratio(page.proxy, page.direct) })),
  { group: 'bytes per page view', metric: `total (${pages.origin})`, baseline: kb(pages.direct), value: kb(pages.proxy), ratio: ratio(pages.proxy, pages.direct) },
  // Ratio: the share of the final saving a view carries (issue 17: ≥ 0.9 on the second view).
  ...pages.views.slice(0, 3).map((bytes, i) => ({
    group: 'early saving, all pages',
    metric: `view ${i + 1} (of ${pages.rounds} to final)`,
    baseline: kb(pages.direct),
    value: kb(bytes),
    ratio: ratio(pages.direct - bytes, pages.direct - pages.proxy),
  })),
  { group: 'AIQA (mozjpeg, 17 photos × 3 d)', metric: 'encodes per search', baseline: aiqa.exhaustiveEncodesPerSearch.toFixed(1), value: aiqa.encodesPerSearch.toFixed(2), ratio: ratio(aiqa.encodesPerSearch, aiqa.exhaustiveEncodesPerSearch) },
  { group: 'AIQA (mozjpeg, 17 photos × 3 d)', metric: 'exact quality', baseline: '100%', value: `${aiqa.exactPercent.toFixed(1)}%`, ratio: aiqa.exactPercent / 100 },
  { group: 'AIQA (mozjpeg, 17 photos × 3 d)', metric: 'bytes', baseline: 'exhaustive', value: '', ratio: aiqa.bytesVsExhaustive },
  { group: 'DSSIM per candidate', metric: 'ms/MP opaque (fastest run)', baseline: `${dssim.decodeMsPerMp.toFixed(1)} decode`, value: dssim.opaqueMsPerMpBest.toFixed(1), ratio: ratio(dssim.opaqueMsPerMpBest, dssim.decodeMsPerMp) },
  { group: 'DSSIM per candidate', metric: 'ms/MP opaque (median)', baseline: `${dssim.decodeMsPerMp.toFixed(1)} decode`, value: dssim.opaqueMsPerMpMedian.toFixed(1), ratio: ratio(dssim.opaqueMsPerMpMedian, dssim.decodeMsPerMp) },
  { group: 'DSSIM per candidate', metric: 'ms/MP transparent (median)', baseline: `${dssim.decodeMsPerMp.toFixed(1)} decode`, value: dssim.alphaMsPerMpMedian.toFixed(1), ratio: ratio(dssim.alphaMsPerMpMedian, dssim.decodeMsPerMp) },
  { group: 'rewriting, one core', metric: 'HtmlRewriter MB/s', baseline: `${rewrite.tokenizerMBs.toFixed(1)} tokenizer`, value: rewrite.rewriterMBs.toFixed(1), ratio: ratio(rewrite.rewriterMBs, rewrite.tokenizerMBs) },
  // Issue 18: the baseline is the bare engine (http-proxy-3 passing everything through), not our own pass-through.
  ...path.rows.map((row) => ({
    group: `request path vs bare http-proxy-3 (${path.origin} origin, ${path.tool})`,
    metric: `${row.name} (aim ≥ ${row.aim}${row.failed > 0 ? `, ${row.failed} failed` : ''})`,
    baseline: String(row.bare),
    value: String(row.slimproxy),
    ratio: row.ratio,
  })),
  {
    group: `request path vs bare http-proxy-3 (${path.origin} origin, ${path.tool})`,
    metric: `while experiments run: ${path.during.images} new images, ${path.during.connections} connections (p99 loop ${path.during.eventLoopP99Ms} ms, aim ≤ 25; ${path.during.failed} failed)`,
    baseline: '',
    value: String(path.during.requestsPerSecond),
    ratio: Number.NaN,
  },
  // Issue 19: the same listener, the same answers (images final first); the baseline is HTTP/1.1.
  {
    group: `HTTP/2 vs HTTP/1.1 on one HTTPS listener (demo site, ${http2.resources} resources)`,
    metric: `requests/s, ${http2.concurrency} in flight (HTTP/2: one connection)${http2.failed > 0 ? `, ${http2.failed} failed` : ''}`,
    baseline: String(http2.requestsPerSecond.h1),
    value: String(http2.requestsPerSecond.h2),
    ratio: ratio(http2.requestsPerSecond.h2, http2.requestsPerSecond.h1),
  },
  ...http2.pages.map((page) => ({
    group: `HTTP/2 vs HTTP/1.1 on one HTTPS listener (demo site, ${http2.resources} resources)`,
    metric: `page load ms, Chromium, empty cache: ${page.page}`,
    baseline: String(page.h1),
    value: String(page.h2),
    ratio: ratio(page.h2, page.h1),
  })),
  ...cost.marks.map((row) => ({
    group: `experiment CPU, ${cost.images} demo images`,
    metric: `s/MP, mark ${row.mark} (saves ${(100 * row.saving).toFixed(1)}%)`,
    baseline: `${cost.decodeCpuSecondsPerMp.toFixed(2)} decode`,
    value: row.cpuSecondsPerMp.toFixed(2),
    ratio: ratio(row.cpuSecondsPerMp, cost.decodeCpuSecondsPerMp),
  })),
  {
    group: `experiment CPU, ${cost.images} demo images`,
    metric: `s/MP, marks ${cost.together.marks.join(' + ')} together (baseline: the widest alone)`,
    baseline: widestAlone.toFixed(2),
    value: cost.together.cpuSecondsPerMp.toFixed(2),
    ratio: ratio(cost.together.cpuSecondsPerMp, widestAlone),
  },
  { group: 'peak RSS, MB (baseline: after start)', metric: 'browsing to final (proxy, workers, browser driver)', baseline: pages.startRssMb.toFixed(0), value: pages.peakRssMb.toFixed(0), ratio: ratio(pages.peakRssMb, pages.startRssMb) },
];

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}`;
const total = (performance.now() - started) / 1000;
console.log(`\nslimproxy benchmarks — ${machine}; ${total.toFixed(0)} s\n`);
console.log(formatTable(rows));

const results = new URL('results/', import.meta.url);
mkdirSync(results, { recursive: true });
writeFileSync(
  new URL('latest.json', results),
  `${JSON.stringify({ date: new Date().toISOString(), machine, seconds: total, rows, pages, cost, aiqa: { ...aiqa, rows: undefined }, dssim: { ...dssim, rows: undefined }, rewrite, path, http2 }, null, 2)}\n`,
);
writeFileSync(new URL('bytes-per-page-view.svg', results), bytesChart(pages.pages, pages.origin));
console.log('\nwrote bench/results/latest.json and bench/results/bytes-per-page-view.svg');
