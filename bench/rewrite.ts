/**
 * Rewriting benchmark (issue "Rewrite HTML and CSS"). Prints two tables, each against a baseline measured in
 * the same run:
 *   1. rewriting throughput on one core (MB/s) over the demo site and real documentation pages, next to
 *      parse5's tokenizer alone (the floor any parse5-based rewriter stands on);
 *   2. proxy requests/s on a 60 KB page: pass-through, rewrite cold (no document cache), rewrite warm (cache).
 * Usage: npm run bench:rewrite [-- --seconds N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Tokenizer } from 'parse5';
import { HtmlRewriter } from '../src/rewrite/index.js';
import { runStage } from './support/process.js';

const root = new URL('../', import.meta.url);
const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

function htmlFiles(dir: URL): URL[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const url = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    return entry.isDirectory() ? htmlFiles(url) : entry.name.endsWith('.html') ? [url] : [];
  });
}

export interface RewriteResult {
  readonly documents: number;
  readonly documentKb: number;
  readonly pageKb: number;
  /** parse5's tokenizer alone (the baseline) and the rewriter, one core, MB/s. */
  readonly tokenizerMBs: number;
  readonly rewriterMBs: number;
  /** Proxy requests/s: pass-through (baseline), rewrite cold, rewrite warm. */
  readonly rows: Record<string, { 'req/s': number; ratio: number; 'MB/s rewritten': number | string }>;
  readonly seconds: number;
}

export async function benchRewrite(SECONDS = 8): Promise<RewriteResult> {
  const documents = [...htmlFiles(new URL('fixtures/site/', root)), ...htmlFiles(new URL('fixtures/pages/', root))].map((f) =>
    readFileSync(f).toString('latin1'),
  );
  const totalBytes = documents.reduce((sum, d) => sum + d.length, 0);
  const CHUNK = 16 * 1024;

  function throughput(run: (document: string) => void): number {
    for (let i = 0; i < 30; i += 1) documents.forEach(run);
    const started = performance.now();
    let rounds = 0;
    while (performance.now() - started < Math.min(SECONDS, 5) * 1000) {
      documents.forEach(run);
      rounds += 1;
    }
    return (totalBytes * rounds) / ((performance.now() - started) / 1000) / 1e6;
  }

  const noop = () => undefined;
  const tokenizerOnly = throughput((document) => {
    const tokenizer = new Tokenizer({ sourceCodeLocationInfo: true }, {
      onStartTag: noop, onEndTag: noop, onComment: noop, onDoctype: noop, onCharacter: noop,
      onNullCharacter: noop, onWhitespaceCharacter: noop, onEof: noop,
    });
    for (let i = 0; i < document.length; i += CHUNK) tokenizer.write(document.slice(i, i + CHUNK), false);
    tokenizer.write('', true);
  });
  const rewriting = throughput((document) => {
    const rewriter = new HtmlRewriter({
      documentUrl: new URL('http://site.example/dir/page.html'),
      marking: { site: new URL('http://site.example/'), capabilities: { webp: true, avif: true, zorro: true } },
      lazyAttributes: ['data-src', 'data-srcset'],
    });
    for (let i = 0; i < document.length; i += CHUNK) rewriter.write(document.slice(i, i + CHUNK));
    rewriter.end();
  });


  // A 60 KB legacy page: the demo pages' markup repeated, about 100 images.
  const unit = readFileSync(new URL('fixtures/site/index.html', root), 'utf8');
  let page = '';
  while (page.length < 60 * 1024) page += unit;
  const pageBytes = Buffer.from(page.slice(0, 60 * 1024));
  const etag = `"${createHash('sha1').update(pageBytes).digest('hex').slice(0, 16)}"`;

  const origin = createServer((req, res) => {
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ETag: etag });
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': pageBytes.length, ETag: etag });
    res.end(pageBytes);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const originPort = (origin.address() as AddressInfo).port;

  async function startProxy(elements: string): Promise<{ child: ChildProcess; url: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'slimproxy-bench-'));
    const config = join(dir, 'config.xml');
    writeFileSync(config, `<config><listen address="127.0.0.1" port="0"/><origin url="http://127.0.0.1:${originPort}/"/><log level="warn"/><admin enabled="false"/>${elements}</config>`);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', config], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SLIMPROXY_LOG_LEVEL: 'info' } });
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        try {
          const parsed = JSON.parse(line) as { url?: string };
          if (parsed.url) resolve(parsed.url);
        } catch {
          // not a log line
        }
      });
      child.once('exit', () => reject(new Error('proxy exited')));
    });
    return { child, url };
  }

  async function requestsPerSecond(url: string): Promise<number> {
    const opts = { url: `${url}page.html`, connections: 16, headers: { 'user-agent': CHROME_UA } };
    await autocannon({ ...opts, duration: 2 });
    const result = await autocannon({ ...opts, duration: SECONDS });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return result.requests.average;
  }

  const runs: [string, string][] = [
    ['pass-through (baseline)', ''],
    ['rewrite, cold (no cache)', '<image-compression/><rewrite cache-size="0"/>'],
    ['rewrite, warm (cache)', '<image-compression/>'],
  ];
  const rows: Record<string, { 'req/s': number; ratio: number; 'MB/s rewritten': number | string }> = {};
  let baseline = 0;
  for (const [name, elements] of runs) {
    const proxy = await startProxy(elements);
    const rate = await requestsPerSecond(proxy.url);
    proxy.child.kill('SIGTERM');
    baseline ||= rate;
    rows[name] = { 'req/s': Math.round(rate), ratio: +(rate / baseline).toFixed(2), 'MB/s rewritten': elements ? +((rate * pageBytes.length) / 1e6).toFixed(1) : '' };
  }
  origin.close();
  return { documents: documents.length, documentKb: totalBytes / 1024, pageKb: pageBytes.length / 1024, tokenizerMBs: tokenizerOnly, rewriterMBs: rewriting, rows, seconds: SECONDS };
}

await runStage(
  import.meta.url,
  (args) => benchRewrite(Number(parseArgs({ args, options: { seconds: { type: 'string', default: '8' } } }).values.seconds)),
  (result) => {
  console.log(`\nRewriting throughput, one core, ${result.documents} pages (${result.documentKb.toFixed(0)} KB):`);
  console.table({
    'parse5 Tokenizer with locations (baseline)': { 'MB/s': +result.tokenizerMBs.toFixed(1), ratio: 1 },
    'HtmlRewriter (marks for Chrome)': { 'MB/s': +result.rewriterMBs.toFixed(1), ratio: +(result.rewriterMBs / result.tokenizerMBs).toFixed(2) },
  });
  console.log(`\nProxy requests/s on a ${result.pageKb.toFixed(0)} KB page, 16 connections, ${result.seconds} s each (origin, proxy and load on this machine):`);
  console.table(result.rows);
  },
);
