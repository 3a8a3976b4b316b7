import type { Browser, Page, Response } from 'playwright-core';
import type { RunningSlimproxy } from '../../src/slimproxy.js';
import { withoutMarks } from './marks.js';

/** One image response the page received: from an `<img>`, a CSS background, `new Image()`, anything. */
export interface ImageResponse {
  /** The URL with slimproxy's mark taken out, so that direct and proxied views line up. */
  readonly url: string;
  readonly status: number;
  readonly contentType: string;
  /** Body bytes as they came over the wire (before any Content-Encoding is undone). */
  readonly bytes: number;
  /** slimproxy's description of what it sent (`X-Slimproxy-Image`), when it sent one. */
  readonly description: string | undefined;
}

/** A rectangle of the page, in CSS pixels from its top-left corner. */
export interface Region {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** One image element (`<img>`, `<input type="image">`) as the page rendered it. */
export interface ImageElement {
  /** `img` or `input` (an `<input type="image">` has no natural size). */
  readonly tag: string;
  /** Its `src` attribute without marks, to name it in messages. */
  readonly src: string;
  readonly naturalWidth: number;
  readonly naturalHeight: number;
  /**
   * Where to compare its rendered pixels: its box, widened to at least MIN_REGION px around its centre (a 1×12
   * spacer has too few pixels for a similarity measure to mean anything), or `undefined` when it has no box.
   */
  readonly region: Region | undefined;
}

export interface PageView {
  readonly url: string;
  readonly images: readonly ImageResponse[];
  /** Sum of the image response bodies: the bytes one visit costs in images. */
  readonly imageBytes: number;
  readonly elements: readonly ImageElement[];
  /** Console errors, page errors, failed requests and error statuses, with marks taken out of URLs. */
  readonly problems: readonly string[];
  /** The whole page as rendered (PNG), when screenshots were asked for. */
  readonly screenshot: Buffer | undefined;
}

/** The smallest side of a compared region, in CSS pixels. */
export const MIN_REGION = 32;

export interface ViewOptions {
  /** Take element screenshots (slower; needed to compare rendered pixels). */
  readonly screenshots?: boolean;
  readonly viewport?: { width: number; height: number };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** `URL` of a string, tolerating the odd relative or data URL a page reports. */
function unmarked(url: string): string {
  return withoutMarks(url);
}

async function bodySize(response: Response): Promise<number> {
  // The encoded size on the wire; Content-Length when the network layer did not report it.
  const sizes = await response.request().sizes().catch(() => undefined);
  if (sizes && sizes.responseBodySize > 0) return sizes.responseBodySize;
  const length = Number(response.headers()['content-length']);
  if (Number.isFinite(length)) return length;
  return (await response.body().catch(() => Buffer.alloc(0))).length;
}

/** An interval of at least MIN_REGION around the middle of [start, start + size), inside [0, limit), in whole pixels. */
function widen(start: number, size: number, limit: number): [number, number] {
  const wanted = Math.min(Math.max(size, MIN_REGION), limit);
  const from = Math.max(0, Math.min(start - (wanted - size) / 2, limit - wanted));
  const first = Math.floor(from);
  return [first, Math.min(Math.ceil(from + wanted), limit) - first];
}

/** The little of the DOM the functions run in the page use: the project compiles without lib "dom". */
interface InPage {
  readonly document: { readonly documentElement: { readonly scrollWidth: number; readonly scrollHeight: number } };
  readonly scrollX: number;
  readonly scrollY: number;
  scrollTo(x: number, y: number): void;
  getComputedStyle(element: unknown): { readonly visibility: string };
}
interface InPageImage {
  readonly tagName: string;
  readonly naturalWidth?: number;
  readonly naturalHeight?: number;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { readonly left: number; readonly top: number; readonly width: number; readonly height: number };
}

/** Scrolls through the page so that lazily loaded images load too, then waits for the network to settle. */
async function loadEverything(page: Page): Promise<void> {
  const height = await page.evaluate(() => (globalThis as unknown as InPage).document.documentElement.scrollHeight);
  const viewport = page.viewportSize()?.height ?? 768;
  for (let y = 0; y < height; y += viewport) await page.evaluate((top) => (globalThis as unknown as InPage).scrollTo(0, top), y);
  await page.evaluate(() => (globalThis as unknown as InPage).scrollTo(0, 0));
  await page.waitForLoadState('networkidle');
}

/**
 * Visits `url` in a fresh browser context (empty cache, no cookies), as a first-time visitor would, and reports
 * what it cost in image bytes and how every image element rendered. Requests that leave loopback are aborted: the
 * machine has no other network, and aborting them at once keeps both views of a page alike and quick.
 */
export async function viewPage(browser: Browser, url: URL | string, options: ViewOptions = {}): Promise<PageView> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1024, height: 768 }, deviceScaleFactor: 1 });
  try {
    await context.route((target) => !LOOPBACK.has(target.hostname), (route) => route.abort('internetdisconnected'));
    const page = await context.newPage();
    const problems: string[] = [];
    const pending: Promise<ImageResponse>[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()} (${unmarked(message.location().url)})`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`failed: ${unmarked(request.url())} ${request.failure()?.errorText ?? ''}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`status ${response.status()}: ${unmarked(response.url())}`);
      if (response.request().resourceType() !== 'image') return;
      pending.push(
        bodySize(response).then((bytes) => ({
          url: unmarked(response.url()),
          status: response.status(),
          contentType: response.headers()['content-type'] ?? '',
          bytes,
          description: response.headers()['x-slimproxy-image'],
        })),
      );
    });
    await page.goto(String(url), { waitUntil: 'load' });
    await loadEverything(page);

    // Plain data out of the page (tsx's helpers for named functions do not exist in there); regions are made here.
    const found = await page.locator('img, input[type=image]').evaluateAll((nodes) =>
      nodes.map((node) => {
        const window = globalThis as unknown as InPage;
        const image = node as unknown as InPageImage;
        const box = image.getBoundingClientRect();
        return {
          tag: image.tagName.toLowerCase(),
          src: image.getAttribute('src') ?? '',
          naturalWidth: image.naturalWidth ?? 0,
          naturalHeight: image.naturalHeight ?? 0,
          box: { left: box.left + window.scrollX, top: box.top + window.scrollY, width: box.width, height: box.height },
          shown: box.width >= 1 && box.height >= 1 && window.getComputedStyle(image).visibility !== 'hidden',
          page: { width: window.document.documentElement.scrollWidth, height: window.document.documentElement.scrollHeight },
        };
      }),
    );
    const elements = found.map(({ tag, src, naturalWidth, naturalHeight, box, shown, page: size }) => {
      const [left, width] = widen(box.left, box.width, size.width);
      const [top, height] = widen(box.top, box.height, size.height);
      return { tag, src: unmarked(src), naturalWidth, naturalHeight, region: shown ? { left, top, width, height } : undefined };
    });
    const screenshot = options.screenshots ? await page.screenshot({ fullPage: true, animations: 'disabled', caret: 'hide', scale: 'css' }) : undefined;
    const images = await Promise.all(pending);
    problems.sort();
    return {
      url: String(url),
      images,
      imageBytes: images.reduce((sum, image) => sum + image.bytes, 0),
      elements,
      problems,
      screenshot,
    };
  } finally {
    await context.close();
  }
}

/** How many experiments the proxy has finished so far (any outcome). */
async function experimentsRun(proxy: RunningSlimproxy): Promise<number> {
  return (await proxy.metrics.experiments.get()).values.reduce((sum, value) => sum + value.value, 0);
}

/**
 * Browses `pages` through the proxy until their images are final: each image request runs at most the next
 * experiment of its plan, so this repeats visits (then waits for the experiments) until a round of visits starts
 * none. Returns the number of rounds; `onView` sees every visit (round 1: the first view of each page).
 */
export async function driveToFinal(
  browser: Browser,
  proxy: RunningSlimproxy,
  pages: readonly (URL | string)[],
  options: { readonly maxRounds?: number; readonly onView?: (round: number, view: PageView) => void } = {},
): Promise<number> {
  const maxRounds = options.maxRounds ?? 40;
  for (let round = 1; round <= maxRounds; round += 1) {
    const before = await experimentsRun(proxy);
    for (const page of pages) {
      const view = await viewPage(browser, page);
      options.onView?.(round, view);
    }
    await proxy.experimentsIdle();
    if ((await experimentsRun(proxy)) === before) return round;
  }
  throw new Error(`images still not final after ${maxRounds} rounds of visits`);
}
