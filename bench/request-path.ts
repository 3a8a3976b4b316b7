/**
 * The request path against the engine it is built on (issue 18). In one run, on one origin (Debian's nginx when
 * installed, else a Node server in a process of its own), each row measured through a bare http-proxy-3
 * pass-through (bench/support/bare-proxy.ts: the baseline) and through slimproxy with the default config, in turn
 * and in rounds (the best round of each counts: this machine is shared), the load from wrk (or autocannon) in a
 * process of its own:
 *   - final marked JPEGs, the origin sending `max-age` (freshness known), and sending only `Last-Modified`/`ETag`;
 *   - a 61 KB page rewritten by slimproxy (its kept-page cache warm); a stylesheet with nothing to mark, a script
 *     and a font (pass-through);
 *   - while experiments run: 64 connections over 50 new images, failed responses and slimproxy's event-loop delay
 *     (p99, from its metrics).
 * Usage: npm run bench:path [-- --seconds N --rounds N --only TEXT --profile DIR]
 *   --only TEXT: only the rows whose name contains TEXT (and not the experiments phase).
 *   --profile DIR: slimproxy runs with --cpu-prof, its CPU profile written to DIR when it stops.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { freePort } from '../test/support/ports.js';
import { startBenchOrigin } from './support/bench-origin.js';
import { LOAD_TOOL, load, type LoadResult } from './support/load.js';
import { startModule } from './support/start-module.js';
import { runStage } from './support/process.js';

const root = new URL('../', import.meta.url);
const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const IMAGE_ACCEPT = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';
const MARK = 'ic,webp,avif';
/** Images served final in the first two rows (of the 50 the experiments phase starts). */
const FINAL_IMAGES = 20;

export interface PathRow {
  readonly name: string;
  readonly bare: number;
  readonly slimproxy: number;
  readonly ratio: number;
  /** Issue 18's acceptance: the least ratio. */
  readonly aim: number;
  readonly failed: number;
}

export interface RequestPathResult {
  readonly origin: string;
  readonly tool: string;
  readonly connections: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly rows: readonly PathRow[];
  readonly during: { readonly images: number; readonly connections: number; readonly requestsPerSecond: number; readonly failed: number; readonly eventLoopP99Ms: number };
  readonly finals: number;
}

/** The bench site: 50 photographs (crops of the demo's, saved as a legacy site would), a page, a stylesheet, a script, a font. */
async function site(): Promise<Map<string, Buffer | string>> {
  const files = new Map<string, Buffer | string>();
  const sources = ['raccoon.jpg', 'china.jpg', 'flower.jpg', 'earth-day.jpg', 'retina.jpg'].map((f) => readFileSync(new URL(`fixtures/photos/${f}`, root)));
  for (let i = 0; i < 50; i += 1) {
    const source = sources[i % sources.length]!;
    const { width = 0, height = 0 } = await sharp(source).metadata();
    const left = Math.floor((((i * 37) % 10) / 10) * Math.max(0, width - 480));
    const top = Math.floor((((i * 53) % 10) / 10) * Math.max(0, height - 320));
    files.set(`img/photo${i}.jpg`, await sharp(source).extract({ left, top, width: Math.min(480, width), height: Math.min(320, height) }).jpeg({ quality: 92 }).toBuffer());
  }
  const unit = readFileSync(new URL('fixtures/site/index.html', root), 'utf8');
  let page = '';
  while (page.length < 61 * 1024) page += unit;
  files.set('page.html', page.slice(0, 61 * 1024));
  // 1.6 KB of rules without url(): rewritten by the proxy (a stylesheet), with nothing to mark.
  let css = '';
  for (let i = 0; css.length < 1600; i += 1) css += `.item-${i} { margin: ${i}px auto; color: #${(i * 4099).toString(16).padStart(6, '0').slice(-6)}; font: 14px/1.4 Georgia, serif; }\n`;
  files.set('style.css', css);
  let script = '';
  for (let i = 0; script.length < 20 * 1024; i += 1) script += `function handler${i}(event) { return event.target.dataset.value * ${i} + ${i * 7}; }\n`;
  files.set('app.js', script);
  // A font is bytes the proxy never reads: 30 KB that do not compress.
  const font = Buffer.alloc(30 * 1024);
  for (let i = 0; i < font.length; i += 1) font[i] = (i * 2654435761) >>> 24;
  files.set('font.woff2', font);
  return files;
}

/** One value of the slimproxy process's metrics text. */
async function metric(admin: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(new URL('metrics', admin))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name}{`) === false && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

async function queueEmpty(admin: string): Promise<boolean> {
  return (await metric(admin, 'slimproxy_experiment_queue', '{state="waiting"}')) + (await metric(admin, 'slimproxy_experiment_queue', '{state="running"}')) === 0;
}

export async function benchRequestPath(seconds = 10, rounds = 2, only?: string, profileDir?: string): Promise<RequestPathResult> {
  const files = await site();
  const origin = await startBenchOrigin(files);
  const bare = await startModule('bench/support/bare-proxy.ts', [origin.url]);
  const dir = mkdtempSync(join(tmpdir(), 'slimproxy-bench-path-'));
  const port = await freePort();
  const adminPort = await freePort();
  const config = join(dir, 'config.xml');
  // The shipped config (conf/config.xml) with this origin, a store of its own and the admin listener for metrics.
  writeFileSync(
    config,
    `<config><listen address="127.0.0.1" port="${port}"/><origin url="${origin.url}" timeout="30"/><image-compression preset="balanced"/><interval-caching seconds="0"/><store path="${join(dir, 'store')}" max-size="1GiB"/><admin enabled="true" address="127.0.0.1" port="${adminPort}"/></config>`,
  );
  // As `npm start` runs it: the build, not the sources through tsx (whose helpers cost every closure made).
  await promisify(execFile)('npm', ['run', 'build'], { cwd: root });
  const slim = await startModule('dist/main.js', ['--config', config], profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
  const admin = `http://127.0.0.1:${adminPort}/`;
  const photos = [...files.keys()].filter((path) => path.startsWith('img/'));

  // While experiments run: every image new to the store.
  const during = photos.map((path) => `${slim.url}plain/${path}?m=${MARK}`);
  await metric(admin, 'nodejs_eventloop_lag_p99_seconds'); // a scrape starts a new window of the delay histogram
  const busy = only !== undefined ? { requestsPerSecond: Number.NaN, failed: Number.NaN } : await load(during, { seconds: seconds * 2, connections: 64, headers: { accept: IMAGE_ACCEPT } });
  const eventLoopP99Ms = (await metric(admin, 'nodejs_eventloop_lag_p99_seconds')) * 1000;

  // The first images to final, under both trees: each request starts the next experiment its mark needs.
  const finalUrls = (base: string, tree: string) => photos.slice(0, FINAL_IMAGES).map((path) => `${base}${tree}/${path}${base === slim.url ? `?m=${MARK}` : ''}`);
  let finals = 0;
  const imageRows = only === undefined || 'final marked JPEG'.includes(only) || only.includes('final');
  for (let round = 0; imageRows && round < 12 && finals < 2 * FINAL_IMAGES; round += 1) {
    finals = 0;
    for (const url of [...finalUrls(slim.url, 'fresh'), ...finalUrls(slim.url, 'plain')]) {
      const res = await fetch(url, { headers: { accept: IMAGE_ACCEPT } });
      await res.arrayBuffer();
      if (res.headers.get('cache-control')?.startsWith('public')) finals += 1;
    }
    const deadline = Date.now() + 600_000;
    while (!(await queueEmpty(admin)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  }

  const rowsWanted: { name: string; aim: number; urls: (base: string) => string[]; headers: Record<string, string> }[] = [
    { name: 'final marked JPEG, origin with max-age', aim: 2.5, urls: (base) => finalUrls(base, 'fresh'), headers: { accept: IMAGE_ACCEPT } },
    { name: 'final marked JPEG, origin with Last-Modified/ETag only', aim: 1.5, urls: (base) => finalUrls(base, 'plain'), headers: { accept: IMAGE_ACCEPT } },
    { name: '61 KB page, rewritten, kept-page cache warm', aim: 1, urls: (base) => [`${base}plain/page.html`], headers: { 'user-agent': CHROME_UA, accept: 'text/html' } },
    { name: '1.6 KB stylesheet, nothing to mark', aim: 0.85, urls: (base) => [`${base}plain/style.css`], headers: { 'user-agent': CHROME_UA, accept: 'text/css' } },
    { name: '20 KB script', aim: 0.85, urls: (base) => [`${base}plain/app.js`], headers: { 'user-agent': CHROME_UA } },
    { name: '30 KB font', aim: 0.85, urls: (base) => [`${base}plain/font.woff2`], headers: { 'user-agent': CHROME_UA } },
  ];
  const rows: PathRow[] = [];
  for (const wanted of rowsWanted.filter((row) => only === undefined || row.name.includes(only))) {
    const best = { bare: 0, slimproxy: 0 };
    let failed = 0;
    for (let round = 0; round < rounds; round += 1) {
      for (const side of ['bare', 'slimproxy'] as const) {
        const urls = wanted.urls(side === 'bare' ? bare.url : slim.url);
        await load(urls, { seconds: 2, connections: 16, headers: wanted.headers });
        const result: LoadResult = await load(urls, { seconds, connections: 16, headers: wanted.headers });
        failed += result.failed;
        best[side] = Math.max(best[side], result.requestsPerSecond);
      }
    }
    rows.push({ name: wanted.name, bare: Math.round(best.bare), slimproxy: Math.round(best.slimproxy), ratio: +(best.slimproxy / best.bare).toFixed(2), aim: wanted.aim, failed });
  }
  await Promise.all([slim.stop(), bare.stop()]);
  await origin.stop();
  return {
    origin: origin.server,
    tool: LOAD_TOOL,
    connections: 16,
    seconds,
    rounds,
    rows,
    during: { images: photos.length, connections: 64, requestsPerSecond: Math.round(busy.requestsPerSecond), failed: busy.failed, eventLoopP99Ms: +eventLoopP99Ms.toFixed(1) },
    finals,
  };
}

await runStage(
  import.meta.url,
  (args) => {
    const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '2' }, only: { type: 'string' }, profile: { type: 'string' } } });
    return benchRequestPath(Number(values.seconds), Number(values.rounds), values.only, values.profile);
  },
  (result) => {
    console.log(`\nThe request path against a bare http-proxy-3 pass-through (origin: ${result.origin}; load: ${result.tool}, ${result.connections} connections, best of ${result.rounds} rounds of ${result.seconds} s):`);
    console.table(Object.fromEntries(result.rows.map((row) => [row.name, { 'bare req/s': row.bare, 'slimproxy req/s': row.slimproxy, ratio: row.ratio, aim: `≥ ${row.aim}`, met: row.ratio >= row.aim ? 'yes' : 'NO', failed: row.failed }])));
    if (result.finals > 0) console.log(`(${result.finals}/${2 * FINAL_IMAGES} images final.)`);
    const d = result.during;
    if (Number.isNaN(d.requestsPerSecond)) return;
    console.log(`While experiments run (${d.images} new images, ${d.connections} connections): ${d.requestsPerSecond} req/s, ${d.failed} failed (aim 0), event-loop delay p99 ${d.eventLoopP99Ms} ms (aim ≤ 25).`);
  },
);
