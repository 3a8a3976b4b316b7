/**
 * HTTP/2 against HTTP/1.1 on the same HTTPS listener (issue 19): slimproxy in front of the bundled demo site, one
 * listener with a self-signed certificate offering both by ALPN, the demo's images driven to final first so that
 * both protocols serve the same answers.
 *   - requests/s over the demo pages' resources (pages, stylesheets, marked images), the same client code for both
 *     (bench/https-load-client.ts in a process of its own): HTTP/2 one connection with 16 streams in flight,
 *     HTTP/1.1 16 keep-alive connections; rounds interleaved, the best of each counts;
 *   - page-load time in Chromium, empty cache (a fresh context per view), each demo page viewed 5 times over each
 *     protocol (HTTP/1.1: Chromium with --disable-http2), the median per page; the protocol of every response is
 *     checked.
 * Usage: npm run bench:http2 [-- --seconds N --rounds N]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { launchChromium } from '../test/support/browser.js';
import { selfSignedCertificate } from '../test/support/certificates.js';
import { freePort } from '../test/support/ports.js';
import { runStage } from './support/process.js';
import { startModule } from './support/start-module.js';

const root = new URL('../', import.meta.url);
const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const IMAGE_ACCEPT = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';
const PAGES = ['/', '/about.html', '/gallery.html', '/products/index.html', '/products/specs.html'];
const VIEWS = 5;

export interface Http2Result {
  readonly resources: number;
  readonly concurrency: number;
  readonly seconds: number;
  readonly requestsPerSecond: { readonly h1: number; readonly h2: number };
  readonly failed: number;
  /** Median load time per page (ms), each protocol. */
  readonly pages: readonly { readonly page: string; readonly h1: number; readonly h2: number }[];
  readonly finals: number;
}

const insecure = { rejectUnauthorized: false };

async function metric(admin: string, name: string): Promise<number> {
  const text = await (await fetch(new URL('metrics', admin))).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && /state="(waiting|running)"/.test(line))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/** GET over HTTPS from this process (the bench's own fetches, not the measured load). */
async function get(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, ...insecure, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function load(protocol: 'h1' | 'h2', seconds: number, concurrency: number, urls: readonly string[]): Promise<{ requests: number; failed: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', new URL('https-load-client.ts', import.meta.url).pathname, protocol, String(seconds), String(concurrency), JSON.stringify({ 'user-agent': CHROME_UA, accept: IMAGE_ACCEPT }), ...urls], { cwd: root, maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as { requests: number; failed: number };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export async function benchHttp2(seconds = 10, rounds = 2): Promise<Http2Result> {
  const certificate = selfSignedCertificate();
  const dir = mkdtempSync(join(tmpdir(), 'slimproxy-bench-h2-'));
  const port = await freePort();
  const adminPort = await freePort();
  const config = join(dir, 'config.xml');
  writeFileSync(
    config,
    `<config><listen address="127.0.0.1" port="${port}" tls-cert="${certificate.certPath}" tls-key="${certificate.keyPath}"/><origin url="embedded"/><image-compression/><store path="${join(dir, 'store')}" max-size="1GiB"/><admin enabled="true" address="127.0.0.1" port="${adminPort}"/></config>`,
  );
  await promisify(execFile)('npm', ['run', 'build'], { cwd: root });
  const slim = await startModule('dist/main.js', ['--config', config]);
  const admin = `http://127.0.0.1:${adminPort}/`;
  const base = slim.url;
  try {
    // The demo's resources as a browser asks for them: pages, their stylesheets, their marked images.
    const resources = new Set<string>();
    for (const page of PAGES) {
      const url = new URL(page, base).href;
      resources.add(url);
      const { body } = await get(url, { 'user-agent': CHROME_UA });
      // As the browser resolves them: against the page's <base href> when it has one.
      const baseHref = /<base\s+href="([^"]*)"/i.exec(body)?.[1];
      const documentBase = baseHref === undefined ? url : new URL(baseHref, url).href;
      for (const match of body.matchAll(/(?:src|href)="([^"]+)"/g)) {
        const target = new URL(match[1]!.replaceAll('&amp;', '&'), documentBase);
        if (target.origin === new URL(base).origin && (/[?&]m=/.test(target.search) || target.pathname.endsWith('.css'))) resources.add(target.href);
      }
    }
    const images = [...resources].filter((url) => /[?&]m=/.test(url));
    // Final first: each request starts the next experiment its mark needs.
    let finals = 0;
    for (let round = 0; round < 12 && finals < images.length; round += 1) {
      finals = 0;
      for (const url of images) {
        const res = await get(url, { 'user-agent': CHROME_UA, accept: IMAGE_ACCEPT });
        if (String(res.headers['cache-control']).startsWith('public')) finals += 1;
      }
      const deadline = Date.now() + 600_000;
      while ((await metric(admin, 'slimproxy_experiment_queue')) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    }

    const urls = [...resources];
    const best = { h1: 0, h2: 0 };
    let failed = 0;
    for (let round = 0; round < rounds; round += 1) {
      for (const protocol of ['h1', 'h2'] as const) {
        await load(protocol, 2, 16, urls);
        const result = await load(protocol, seconds, 16, urls);
        failed += result.failed;
        best[protocol] = Math.max(best[protocol], result.requests);
      }
    }

    const times = new Map<string, { h1: number[]; h2: number[] }>(PAGES.map((page) => [page, { h1: [], h2: [] }]));
    const browsers = { h2: await launchChromium(), h1: await launchChromium({ args: ['--disable-http2'] }) };
    try {
      for (let view = 0; view < VIEWS; view += 1) {
        for (const page of PAGES) {
          for (const protocol of ['h1', 'h2'] as const) {
            const context = await browsers[protocol].newContext({ ignoreHTTPSErrors: true, viewport: { width: 1024, height: 768 } });
            await context.route((target) => target.hostname !== '127.0.0.1', (route) => route.abort('internetdisconnected'));
            const tab = await context.newPage();
            await tab.goto(new URL(page, base).href, { waitUntil: 'load' });
            const entry = await tab.evaluate(() => {
              const [navigation] = (globalThis as unknown as { performance: { getEntriesByType(type: string): { loadEventEnd: number; nextHopProtocol: string }[] } }).performance.getEntriesByType('navigation');
              return { ms: navigation?.loadEventEnd ?? Number.NaN, protocol: navigation?.nextHopProtocol ?? '' };
            });
            const expected = protocol === 'h2' ? 'h2' : 'http/1.1';
            if (entry.protocol !== expected) throw new Error(`${page} came over ${entry.protocol}, not ${expected}`);
            times.get(page)![protocol].push(entry.ms);
            await context.close();
          }
        }
      }
    } finally {
      await Promise.all([browsers.h1.close(), browsers.h2.close()]);
    }
    return {
      resources: urls.length,
      concurrency: 16,
      seconds,
      requestsPerSecond: { h1: Math.round(best.h1), h2: Math.round(best.h2) },
      failed,
      pages: PAGES.map((page) => ({ page, h1: +median(times.get(page)!.h1).toFixed(1), h2: +median(times.get(page)!.h2).toFixed(1) })),
      finals,
    };
  } finally {
    await slim.stop();
  }
}

await runStage(
  import.meta.url,
  (args) => {
    const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '2' } } });
    return benchHttp2(Number(values.seconds), Number(values.rounds));
  },
  (result) => {
    console.log(`\nHTTP/2 vs HTTP/1.1 on one HTTPS listener (demo site, ${result.resources} resources, ${result.finals} images final; ${result.concurrency} in flight; best of rounds of ${result.seconds} s):`);
    console.table({
      'requests/s': { 'HTTP/1.1': result.requestsPerSecond.h1, 'HTTP/2': result.requestsPerSecond.h2, ratio: +(result.requestsPerSecond.h2 / result.requestsPerSecond.h1).toFixed(2) },
      ...Object.fromEntries(result.pages.map((page) => [`load ms ${page.page}`, { 'HTTP/1.1': page.h1, 'HTTP/2': page.h2, ratio: +(page.h2 / page.h1).toFixed(2) }])),
    });
    if (result.failed > 0) console.log(`${result.failed} failed responses`);
  },
);
