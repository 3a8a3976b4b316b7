/**
 * Linear-time benchmark (SPEC §3: "time is linear and memory bounded on any input"). Two parts, each against a
 * baseline measured in the same run:
 *   1. in process, one core: the HTML rewriter's MB/s on 10 MB of whitespace, one 10 MB comment, 10 MB inside
 *      one <script> and 10 MB of real markup, next to parse5's bare Tokenizer on the same 16 KiB chunks. Checks:
 *      the rewriter's fastest input is within 2× of its slowest, and on markup it keeps ≥ 75% of the tokenizer;
 *   2. through the proxy (a real process): a ~30 KB gzip bomb that expands to 30 MB of HTML against 30 MB passed
 *      through unrewritten (application/octet-stream), by the proxy process's CPU time (/proc/<pid>/stat).
 * The machine is shared and noisy: variants are interleaved, in a rotated order, over several rounds after a
 * warm-up, and each cell is the median of the rounds. A FAIL is reported, not thrown: this is not a test.
 * Usage: npm run bench:linear [-- --rounds N]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Tokenizer } from 'parse5';
import { RunTokenizer } from '../src/rewrite/run-tokenizer.js';
import { TreeBuilder } from '../src/rewrite/tree-builder.js';
import { parseConfig } from '../src/config/index.js';
import { HtmlRewriter } from '../src/rewrite/index.js';
import { MAX_DECOMPRESSION_RATIO, MAX_HELD_BACK_BYTES } from '../src/rewrite/streams.js';

const root = new URL('../', import.meta.url);
const MB = 1e6;
/** The chunk size the proxy's streams hand the rewriter (a socket read, as src/rewrite/streams.ts sees it). */
const CHUNK = 16 * 1024;
const INPUT_BYTES = 10 * MB;
const BOMB_BYTES = 30 * MB;
const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Math.max(1, Number(args.rounds) || 5);

/** A full collection before each timed run, so that one run does not pay for the garbage of the one before. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** Round r visits the items starting at r (mod n): no variant is always first (cold caches) or last. */
const rotated = <T>(items: readonly T[], round: number): T[] => items.map((_, i) => items[(i + round) % items.length]!);

/** Aligned text table: the first column left-aligned, the others right-aligned. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((width) => '─'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

const verdict = (pass: boolean) => (pass ? 'PASS' : 'FAIL');

// ── Part 1: the rewriter in process ─────────────────────────────────────────────────────────────────────────

function htmlFiles(dir: URL): URL[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const url = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    return entry.isDirectory() ? htmlFiles(url) : entry.name.endsWith('.html') ? [url] : [];
  });
}

/** `unit` repeated until `prefix + … + suffix` holds at least `bytes`. */
function repeatedTo(bytes: number, prefix: string, unit: string, suffix: string): string {
  const times = Math.ceil((bytes - prefix.length - suffix.length) / unit.length);
  return prefix + unit.repeat(Math.max(1, times)) + suffix;
}

interface Input {
  readonly name: string;
  /** A binary string (one char per byte), as the proxy feeds the rewriter. */
  readonly text: string;
  readonly chunks: readonly string[];
}

function inputs(): Input[] {
  const documents = [...htmlFiles(new URL('fixtures/site/', root)), ...htmlFiles(new URL('fixtures/pages/', root))].map((file) =>
    readFileSync(file).toString('latin1'),
  );
  const site = documents.join('');
  const script = [
    'var greeting = "<img src=\\"/img/hero.jpg\\" alt=\\"hero\\">"; // not an element: script data\n',
    "function picture(a, b) { if (a < b && b > 0) { return '<picture><source srcset=\"/img/a.avif\"></picture>'; } return a <= b; }\n",
    'document.body.insertAdjacentHTML("beforeend", "<div style=\\"background:url(/img/bg.png)\\"></div>");\n',
    'for (let i = 0; i < 10; i += 1) { queue.push({ src: "/img/thumb-" + i + ".webp", srcset: "/img/t.png 1x, /img/t2.png 2x" }); }\n',
  ].join('');
  const sources: [string, string][] = [
    ['whitespace', repeatedTo(INPUT_BYTES, '<!DOCTYPE html><html><head><title>ws</title></head><body>', ' \n\t', '</body></html>')],
    [
      'one comment',
      repeatedTo(INPUT_BYTES, '<!DOCTYPE html><html><body><!--', 'commented out: <img src="/img/old.jpg" srcset="/img/old2.jpg 2x"> - and some text -\n', '--></body></html>'),
    ],
    ['inside <script>', repeatedTo(INPUT_BYTES, '<!DOCTYPE html><html><head><script>\n', script, '</script></head><body><p>end</p></body></html>')],
    ['markup (fixtures)', repeatedTo(INPUT_BYTES, '', site, '')],
  ];
  return sources.map(([name, text]) => {
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += CHUNK) chunks.push(text.slice(i, i + CHUNK));
    return { name, text, chunks };
  });
}

interface RewriterRun {
  readonly added: number;
  /** The most input the rewriter held back at once (src/rewrite/streams.ts gives up past MAX_HELD_BACK_BYTES). */
  readonly maxHeld: number;
}

function runRewriter(chunks: readonly string[]): RewriterRun {
  const rewriter = new HtmlRewriter({
    documentUrl: new URL('http://site.example/p.html'),
    marking: { site: new URL('http://site.example/'), capabilities: { webp: true, avif: true, zorro: true } },
    lazyAttributes: ['data-src', 'data-srcset'],
    charset: 'utf-8',
  });
  let seen = 0;
  let written = 0;
  let maxHeld = 0;
  for (const chunk of chunks) {
    seen += chunk.length;
    written += rewriter.write(chunk).length;
    if (seen - written > maxHeld) maxHeld = seen - written;
  }
  written += rewriter.end().length;
  return { added: written - seen, maxHeld };
}

const noop = () => undefined;
const bareHandler = {
  onStartTag: noop, onEndTag: noop, onComment: noop, onDoctype: noop, onCharacter: noop,
  onNullCharacter: noop, onWhitespaceCharacter: noop, onEof: noop,
};

function runTokenizer(chunks: readonly string[]): void {
  const tokenizer = new Tokenizer({ sourceCodeLocationInfo: false }, bareHandler);
  for (const chunk of chunks) tokenizer.write(chunk, false);
  tokenizer.write('', true);
}

/** Seconds one run takes, after a full collection. */
function timed(run: () => void): number {
  collectGarbage();
  const started = performance.now();
  run();
  return (performance.now() - started) / 1000;
}

function partOne(): void {
  const all = inputs();
  const variants = ['rewriter', 'tokenizer'] as const;
  const rates = new Map(all.map((input) => [input.name, { rewriter: [] as number[], tokenizer: [] as number[] }]));
  const rewriterRuns = new Map<string, RewriterRun>();

  console.log(`Part 1: one core, in process; ${all.map((i) => `${i.name} ${(i.text.length / MB).toFixed(2)} MB`).join(', ')}; ${CHUNK / 1024} KiB chunks`);
  const started = performance.now();
  // Warm-up: one untimed run of each variant on each input (JIT, heap growth).
  for (const input of all) {
    rewriterRuns.set(input.name, runRewriter(input.chunks));
    runTokenizer(input.chunks);
  }
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const input of rotated(all, round)) {
      for (const variant of rotated(variants, round)) {
        const seconds = timed(() => (variant === 'rewriter' ? runRewriter(input.chunks) : runTokenizer(input.chunks)));
        rates.get(input.name)![variant].push(input.text.length / seconds / MB);
      }
    }
  }
  const elapsed = (performance.now() - started) / 1000;

  const cells = all.map((input) => {
    const { rewriter, tokenizer } = rates.get(input.name)!;
    return { input, rewriter: median(rewriter), tokenizer: median(tokenizer), low: Math.min(...rewriter), high: Math.max(...rewriter) };
  });
  console.log(`\nMB/s, median of ${ROUNDS} interleaved rounds after a warm-up round (${elapsed.toFixed(0)} s):\n`);
  console.log(
    table(
      ['input', 'rewriter MB/s', 'tokenizer MB/s (baseline)', 'rewriter/tokenizer', 'rewriter min–max', 'bytes added', 'max held back'],
      cells.map((cell) => {
        const run = rewriterRuns.get(cell.input.name)!;
        const held = `${(run.maxHeld / MB).toFixed(2)} MB${run.maxHeld > MAX_HELD_BACK_BYTES ? ' (!)' : ''}`;
        return [
          cell.input.name,
          cell.rewriter.toFixed(1),
          cell.tokenizer.toFixed(1),
          (cell.rewriter / cell.tokenizer).toFixed(2),
          `${cell.low.toFixed(1)}–${cell.high.toFixed(1)}`,
          String(run.added),
          held,
        ];
      }),
    ),
  );
  console.log(
    '\n  bytes added: the marks the rewriter spliced in (0 where text is never touched: whitespace, a comment, a script).' +
      `\n  max held back: input not yet given back; (!) = over src/rewrite/streams.ts's ${MAX_HELD_BACK_BYTES / 2 ** 20} MiB, where the proxy stops rewriting the page.` +
      "\n  The bare tokenizer does not switch to script data after <script>: on that input it tokenises the script as markup (information only)." +
      '\n  Inside one long token (whitespace run, comment) the bare tokenizer appends each chunk to the whole token\'s text and copies it:' +
      '\n  quadratic in the token, hence its low MB/s there; the rewriter writes to it in growing pieces (LONG_TOKEN_BUFFER).',
  );

  const fastest = cells.reduce((a, b) => (b.rewriter > a.rewriter ? b : a));
  const slowest = cells.reduce((a, b) => (b.rewriter < a.rewriter ? b : a));
  const spread = fastest.rewriter / slowest.rewriter;
  const markup = cells.find((cell) => cell.input.name.startsWith('markup'))!;
  const share = markup.rewriter / markup.tokenizer;
  console.log('\nChecks:');
  console.log(
    `  ${verdict(spread <= 2)}  linear: fastest/slowest rewriter MB/s = ${fastest.rewriter.toFixed(1)} (${fastest.input.name}) / ${slowest.rewriter.toFixed(1)} (${slowest.input.name}) = ${spread.toFixed(2)} (≤ 2)`,
  );
  const slowerThanMarkup = cells.filter((cell) => cell.rewriter < markup.rewriter / 2);
  console.log(
    `  ${verdict(slowerThanMarkup.length === 0)}  no input is read slower than markup (within 2×): slowest ${slowest.input.name}; ` +
      'the text inputs are faster only because runs of text are taken in one step (src/rewrite/run-tokenizer.ts)',
  );
  console.log(
    `  ${verdict(share >= 0.75)}  markup: rewriter ${markup.rewriter.toFixed(1)} MB/s = ${(share * 100).toFixed(0)}% of the bare tokenizer's ${markup.tokenizer.toFixed(1)} MB/s (≥ 75%)`,
  );
  breakdown(markup.input);
}

/**
 * Where the rewriter's time on markup goes, each layer against the bare tokenizer: the tokenizer reporting
 * where tokens stand (what any rewriter that splices into the source needs), the same with runs of plain input
 * taken in one step (ours), then parse5's tree builder on it over lean nodes without and with those locations
 * (what following the tree builder costs), then the rewriter.
 */
function breakdown(input: Input): void {
  const layers: Record<string, () => void> = {
    'bare tokenizer': () => runTokenizer(input.chunks),
    'tokenizer with locations': () => {
      const tokenizer = new Tokenizer({ sourceCodeLocationInfo: true }, bareHandler);
      for (const chunk of input.chunks) tokenizer.write(chunk, false);
      tokenizer.write('', true);
    },
    'run tokenizer (ours), with locations': () => {
      const tokenizer = new RunTokenizer({ sourceCodeLocationInfo: true }, bareHandler);
      for (const chunk of input.chunks) tokenizer.write(chunk, false);
      tokenizer.write('', true);
    },
    'tree builder, no locations': () => runTreeBuilder(input.chunks, false),
    'tree builder with locations': () => runTreeBuilder(input.chunks, true),
    rewriter: () => runRewriter(input.chunks),
  };
  const names = Object.keys(layers);
  const rates = new Map(names.map((name) => [name, [] as number[]]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const name of rotated(names, round)) rates.get(name)!.push(input.text.length / timed(layers[name]!) / MB);
  }
  const best = (name: string) => Math.max(...rates.get(name)!);
  console.log(`\nWhere the time goes on ${input.name} (best of ${ROUNDS} interleaved rounds, against the bare tokenizer):\n`);
  console.log(table(['layer', 'MB/s (best)', 'MB/s (median)', 'share of bare tokenizer'], names.map((name) => [name, best(name).toFixed(1), median(rates.get(name)!).toFixed(1), (best(name) / best('bare tokenizer')).toFixed(2)])));
}

function runTreeBuilder(chunks: readonly string[], locations: boolean): void {
  const builder = TreeBuilder.forDocument({ startTag: noop, element: noop, merged: noop, closed: noop, read: noop }, true);
  builder.options.sourceCodeLocationInfo = locations;
  for (const chunk of chunks) {
    builder.tokenizer.write(chunk, false);
    builder.tokenizer.flushCurrentCharacterToken();
  }
  builder.tokenizer.write('', true);
}

// ── Part 2: a gzip bomb through the proxy ───────────────────────────────────────────────────────────────────

/** 30 MB of HTML: a small page head with images, then one repeated byte (what makes the gzip tiny). */
function bombPage(): Buffer {
  const head =
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>bomb</title></head><body><h1>A page of nothing</h1>' +
    '<img src="/img/a.jpg" alt="a"><img src="/img/b.png" srcset="/img/b.png 1x, /img/b2.png 2x" alt="b">' +
    '<picture><source srcset="/img/c.png"><img src="/img/c.jpg" alt="c"></picture><p>';
  const tail = '</p></body></html>\n';
  return Buffer.from(head + ' '.repeat(BOMB_BYTES - head.length - tail.length) + tail, 'latin1');
}

interface Origin {
  readonly server: Server;
  readonly url: string;
}

async function startOrigin(page: Buffer, gzipped: Buffer): Promise<Origin> {
  // page.html goes chunked: with a Content-Length over <rewrite max-size> the proxy would not rewrite it at all.
  const routes: Record<string, { headers: Record<string, string | number>; body: Buffer }> = {
    '/bomb.html': { headers: { 'Content-Type': 'text/html; charset=utf-8', 'Content-Encoding': 'gzip', 'Content-Length': gzipped.length }, body: gzipped },
    '/plain.bin': { headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': page.length }, body: page },
    '/page.html': { headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: page },
  };
  // No ETag or Last-Modified: the proxy's document cache never keeps these pages, every round rewrites anew.
  const server = createServer((req, res) => {
    const route = routes[req.url ?? ''];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, route.headers);
    res.end(route.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

interface Proxy {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly exited: Promise<void>;
  stderr(): string;
}

/** Runs `src/main.ts` as a user would (as test/support/proxy.ts does) and resolves when it listens. */
function spawnProxy(configPath: string): Promise<Proxy> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configPath], {
    cwd: root,
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    // Read every line (request logs too): a full pipe would stall the proxy.
    createInterface({ input: child.stdout }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as { msg?: string; url?: string };
        if (typeof line.url === 'string' && String(line.msg).startsWith('slimproxy is listening')) {
          resolve({ child, pid: child.pid!, url: line.url, exited, stderr: () => stderr });
        }
      } catch {
        // not a log line
      }
    });
    exited.then(() => reject(new Error(`proxy exited before listening: ${stderr}`)), reject);
  });
}

async function stopProxy(proxy: Proxy): Promise<void> {
  if (proxy.child.exitCode !== null || proxy.child.signalCode !== null) return;
  proxy.child.kill('SIGTERM');
  const timer = setTimeout(() => proxy.child.kill('SIGKILL'), 5000);
  await proxy.exited;
  clearTimeout(timer);
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of every thread (zlib runs on libuv's pool) the process has used so far. */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), counted from field 3 (the state) after the command name.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Starts a new peak-RSS window for the process (writing 5 to clear_refs resets VmHWM); false if not allowed. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** VmHWM (the peak since the last reset) or VmRSS (now) of the process, in MB. */
function rssMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

interface Fetched {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly bytes: number;
  readonly seconds: number;
  readonly body?: Buffer;
}

/** GETs `url` as Chrome would, reading and discarding the body (kept only with `keep`). */
function fetchThrough(url: string, keep = false): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = get(url, { headers: { 'user-agent': CHROME_UA, accept: 'text/html,application/xhtml+xml,*/*;q=0.8', 'accept-encoding': 'gzip' } }, (res) => {
      let bytes = 0;
      const kept: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (keep) kept.push(chunk);
      });
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, seconds: (performance.now() - started) / 1000, ...(keep ? { body: Buffer.concat(kept) } : {}) }),
      );
      res.once('error', reject);
    });
    request.setTimeout(120_000, () => request.destroy(new Error(`${url}: no answer in 120 s`)));
    request.once('error', reject);
  });
}

async function partTwo(): Promise<void> {
  const page = bombPage();
  const gzipped = gzipSync(page, { level: 9 });
  const origin = await startOrigin(page, gzipped);
  const dir = mkdtempSync(join(tmpdir(), 'slimproxy-bench-linear-'));
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<config>
  <listen address="127.0.0.1" port="0"/>
  <origin url="${origin.url}"/>
  <store path="${join(dir, 'store')}" max-size="256MiB"/>
  <admin enabled="false"/>
  <log level="info"/>
  <image-compression/>
</config>
`;
  const configPath = join(dir, 'config.xml');
  writeFileSync(configPath, xml);
  const maxSize = parseConfig(xml, configPath).rewrite.maxBytes;

  let proxy: Proxy | undefined;
  try {
    proxy = await spawnProxy(configPath);
    const base = proxy.url.endsWith('/') ? proxy.url : `${proxy.url}/`;
    console.log(
      `\nPart 2: through the proxy (pid ${proxy.pid}, <image-compression/>, <rewrite max-size> default = ${(maxSize / MB).toFixed(0)} MB decoded), origin and client in this process`,
    );

    // Sanity and warm-up: the bomb comes back as a valid gzip of the whole page with its images marked.
    const probe = await fetchThrough(`${base}bomb.html`, true);
    const decoded = gunzipSync(probe.body!);
    const marked = !decoded.subarray(0, 1024).toString('latin1').includes('src="/img/a.jpg"');
    console.log(
      `  bomb: ${(gzipped.length / 1024).toFixed(1)} KB gzip → ${(page.length / MB).toFixed(0)} MB HTML; through the proxy: status ${probe.status}, ` +
        `${probe.headers['content-encoding'] ?? 'identity'}, ${(probe.bytes / 1024).toFixed(1)} KB → ${(decoded.length / MB).toFixed(2)} MB decoded, first <img> marked: ${marked ? 'yes' : 'NO'}`,
    );
    for (const path of ['plain.bin', 'page.html']) await fetchThrough(`${base}${path}`);

    const variants = [
      { name: 'bomb.html (30 KB gzip → 30 MB HTML)', path: 'bomb.html' },
      { name: 'plain.bin (30 MB, passed through; baseline)', path: 'plain.bin' },
      { name: 'page.html (30 MB HTML, chunked, no encoding; info)', path: 'page.html' },
    ];
    const samples = new Map(variants.map((v) => [v.path, { wall: [] as number[], cpu: [] as number[], rss: [] as number[], rssBefore: [] as number[], bytes: 0 }]));
    let rssWindow = true;
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const variant of rotated(variants, round)) {
        const sample = samples.get(variant.path)!;
        rssWindow = resetPeakRss(proxy.pid) && rssWindow;
        sample.rssBefore.push(rssMb(proxy.pid, 'VmRSS'));
        const before = processCpuSeconds(proxy.pid);
        const fetched = await fetchThrough(`${base}${variant.path}`);
        // The last log line and socket close come just after the body's end: let them land in this request's CPU.
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (fetched.status !== 200) throw new Error(`${variant.path}: status ${fetched.status}`);
        sample.cpu.push(processCpuSeconds(proxy.pid) - before);
        sample.wall.push(fetched.seconds);
        sample.rss.push(rssMb(proxy.pid, 'VmHWM'));
        sample.bytes = fetched.bytes;
      }
    }
    const elapsed = (performance.now() - started) / 1000;

    const cells = variants.map((variant) => {
      const sample = samples.get(variant.path)!;
      return { ...variant, wall: median(sample.wall), cpu: median(sample.cpu), rss: Math.max(...sample.rss), rssBefore: median(sample.rssBefore), bytes: sample.bytes, cpus: sample.cpu };
    });
    const baseline = cells.find((cell) => cell.path === 'plain.bin')!;
    console.log(
      `\nMedian of ${ROUNDS} interleaved rounds (${elapsed.toFixed(0)} s); proxy CPU = utime + stime of all its threads from /proc/${proxy.pid}/stat (${(1 / CLOCK_TICKS) * 1000} ms ticks), 50 ms settle included:\n`,
    );
    console.log(
      table(
        ['request', 'bytes to client', 'wall s', '30 MB page MB/s', 'proxy CPU s', 'CPU ÷ baseline', 'CPU s per round', 'RSS before MB', `peak RSS MB${rssWindow ? '' : ' (since start)'}`],
        cells.map((cell) => [
          cell.name,
          String(cell.bytes),
          cell.wall.toFixed(2),
          (BOMB_BYTES / cell.wall / MB).toFixed(1),
          cell.cpu.toFixed(2),
          baseline.cpu > 0 ? (cell.cpu / baseline.cpu).toFixed(1) : '∞',
          cell.cpus.map((s) => s.toFixed(2)).join(' '),
          cell.rssBefore.toFixed(0),
          cell.rss.toFixed(0),
        ]),
      ),
    );
    const bomb = cells.find((cell) => cell.path === 'bomb.html')!;
    const html = cells.find((cell) => cell.path === 'page.html')!;
    console.log('\nCheck (proxy CPU time, medians):');
    console.log(
      `  ${verdict(bomb.cpu <= baseline.cpu)}  bomb: ${bomb.cpu.toFixed(2)} CPU s ≤ ${baseline.cpu.toFixed(2)} CPU s to pass 30 MB through (${baseline.cpu > 0 ? (bomb.cpu / baseline.cpu).toFixed(1) : '∞'}×; wall ${bomb.wall.toFixed(2)} s against ${baseline.wall.toFixed(2)} s)`,
    );
    console.log(
      `  info  bomb against the same 30 MB page unencoded: ${html.cpu > 0 ? (bomb.cpu / html.cpu).toFixed(2) : '∞'}× CPU (gunzip and gzip added, less rewritten); ` +
        `rewriting stops at the first of ${(maxSize / MB).toFixed(0)} MB decoded and ${MAX_DECOMPRESSION_RATIO}× the compressed bytes received, the rest streams through`,
    );
  } finally {
    if (proxy) await stopProxy(proxy);
    await new Promise<void>((resolve) => origin.server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = performance.now();
partOne();
await partTwo();
console.log(`\nTotal ${((performance.now() - started) / 1000).toFixed(0)} s.`);
