/**
 * Bytes per page view (issue "Prove it end to end"): each page visited in Chromium (fresh context, empty cache)
 * directly from the origin (the baseline) and through slimproxy once its experiments have run, preset balanced.
 * The sum of image response bodies per visit, per page and in total; also the peak RSS of this process (proxy,
 * experiment workers and harness; Chromium runs apart) and the rounds of visits until every image was final.
 * Usage: npm run bench:pages [-- --origin URL --pages list.txt]   (list: one path or URL per line, # comments)
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/observability/log.js';
import { startSlimproxy } from '../src/slimproxy.js';
import { launchChromium } from '../test/support/browser.js';
import { driveToFinal, viewPage } from '../test/support/page-view.js';
import { peakRssMb, resetPeakRss, runStage } from './support/process.js';

export const DEMO_PAGES = ['index.html', 'gallery.html', 'about.html', 'products/', 'products/specs.html'];

export interface PageBytes {
  readonly page: string;
  readonly direct: number;
  readonly proxy: number;
  readonly images: number;
}

export interface PageViewsResult {
  readonly origin: string;
  readonly pages: PageBytes[];
  readonly direct: number;
  readonly proxy: number;
  readonly rounds: number;
  /**
   * Image bytes of all pages per round of visits until final (round 1: the first view of each page; each round
   * after the experiments the previous one started have finished).
   */
  readonly views: number[];
  /** This process (proxy, experiment workers, browser driver; Chromium runs apart): after start, and at its peak. */
  readonly startRssMb: number;
  readonly peakRssMb: number;
  readonly seconds: number;
}

/** Paths or URLs, one per line; blank lines and `#` comments skipped. */
export function readPageList(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
}

export async function benchPageViews(options: { origin?: string; pages?: string[] } = {}): Promise<PageViewsResult> {
  const started = performance.now();
  const store = mkdtempSync(join(tmpdir(), 'slimproxy-bench-pages-'));
  const config = parseConfig(
    `<config><listen address="127.0.0.1" port="0"/><origin url="${options.origin ?? 'embedded'}"/><admin enabled="false"/>` +
      `<image-compression preset="balanced"/><store path="${store}" max-size="2GiB"/></config>`,
    'bench-pages.xml',
  );
  const proxy = await startSlimproxy(config, createLogger('error'));
  const browser = await launchChromium({ stillImages: true });
  try {
    const pages = options.pages ?? DEMO_PAGES;
    // A page may be listed as a full URL of the origin: visit it by its path on either side.
    const pathOf = (page: string) => {
      const url = new URL(page, proxy.origin);
      return url.pathname.slice(1) + url.search;
    };
    resetPeakRss();
    const startRssMb = peakRssMb();
    const views: number[] = [];
    const onView = (round: number, view: { readonly imageBytes: number }) => {
      views[round - 1] = (views[round - 1] ?? 0) + view.imageBytes;
    };
    const rounds = await driveToFinal(browser, proxy, pages.map((page) => new URL(pathOf(page), proxy.url)), { onView });
    const rows: PageBytes[] = [];
    for (const page of pages) {
      const direct = await viewPage(browser, new URL(pathOf(page), proxy.origin));
      const proxied = await viewPage(browser, new URL(pathOf(page), proxy.url));
      rows.push({ page, direct: direct.imageBytes, proxy: proxied.imageBytes, images: proxied.images.length });
    }
    return {
      origin: options.origin ?? 'embedded demo site',
      pages: rows,
      direct: rows.reduce((sum, row) => sum + row.direct, 0),
      proxy: rows.reduce((sum, row) => sum + row.proxy, 0),
      rounds,
      views,
      startRssMb,
      peakRssMb: peakRssMb(),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await browser.close();
    await proxy.stop(5000);
  }
}

export function pageViewsTable(result: PageViewsResult): Record<string, Record<string, string | number>> {
  const kb = (bytes: number) => +(bytes / 1024).toFixed(1);
  const saving = (direct: number, proxy: number) => (direct > 0 ? `${(100 * (1 - proxy / direct)).toFixed(1)}%` : '');
  const table: Record<string, Record<string, string | number>> = {};
  for (const row of result.pages) table[row.page] = { 'direct KB (baseline)': kb(row.direct), 'slimproxy KB': kb(row.proxy), saving: saving(row.direct, row.proxy), images: row.images };
  table.total = { 'direct KB (baseline)': kb(result.direct), 'slimproxy KB': kb(result.proxy), saving: saving(result.direct, result.proxy), images: '' };
  return table;
}

/** Each view's share of the final saving (issue 17: the second view should carry 90% of it). */
export function earlySavingTable(result: PageViewsResult): Record<string, Record<string, string | number>> {
  const finalSaving = result.direct - result.proxy;
  const row = (bytes: number) => ({
    'image KB': +(bytes / 1024).toFixed(1),
    saving: `${(100 * (1 - bytes / result.direct)).toFixed(1)}%`,
    'of the final saving': finalSaving > 0 ? `${((100 * (result.direct - bytes)) / finalSaving).toFixed(1)}%` : '',
  });
  const table: Record<string, Record<string, string | number>> = {};
  result.views.slice(0, 3).forEach((bytes, i) => {
    table[`view ${i + 1}`] = row(bytes);
  });
  table.final = row(result.proxy);
  return table;
}

await runStage(
  import.meta.url,
  (args) => {
    const { values } = parseArgs({ args, options: { origin: { type: 'string' }, pages: { type: 'string' } } });
    return benchPageViews({ ...(values.origin ? { origin: values.origin } : {}), ...(values.pages ? { pages: readPageList(values.pages) } : {}) });
  },
  (result) => {
    console.log(`\nImage bytes per page view in Chromium, ${result.origin}, preset balanced (${result.rounds} rounds of visits to final):`);
    console.table(pageViewsTable(result));
    console.log('All pages, view by view (each after the experiments the previous view started had run):');
    console.table(earlySavingTable(result));
    console.log(`RSS ${result.startRssMb.toFixed(0)} MB after start, peak ${result.peakRssMb.toFixed(0)} MB; ${result.seconds.toFixed(0)} s`);
  },
);
