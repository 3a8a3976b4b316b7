import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import type { Browser, Page, Response } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium } from '../support/browser.js';
import { fetchRaw } from '../support/client.js';
import { CHROME_UA } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * SPEC §3 "Encodings", in Chromium: a page whose gzip has a bad CRC, bytes after the member, or whose "deflate" is
 * raw deflate is shown by the browser when it comes straight from the origin, so through the proxy it must come
 * back whole, rewritten, and well-formed; a body nobody can decode is a 502 at once, and the proxy carries on.
 */

/** A deterministic PRNG (xorshift32): the same "random" bytes and words on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

const WORDS = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'proxy', 'image', 'chromium', 'deflate', 'gzip', 'member', 'trailer', 'window', 'huffman', 'block', 'stream'];
const IMAGES = ['/img/1.png', '/img/2.png', '/img/3.png'];
const PARAGRAPHS = 300;

/**
 * About 45 KB of HTML: paragraphs of varied words (so that even compressed it spans many chunks), three images
 * spread through it, the last one just before `#end`, which tells that the whole page arrived.
 */
function buildPage(): Buffer {
  const next = prng(0x5eed);
  const parts = ['<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>lenient encodings</title></head><body>\n'];
  for (let p = 0; p < PARAGRAPHS; p++) {
    if (p === 10) parts.push(`<p><img src="${IMAGES[0]}" alt="first" width="8" height="8"></p>\n`);
    if (p === PARAGRAPHS / 2) parts.push(`<p><img src="${IMAGES[1]}" alt="second" width="8" height="8"></p>\n`);
    const words = Array.from({ length: 20 }, () => WORDS[next() % WORDS.length]!);
    parts.push(`<p class="para">${p}: ${words.join(' ')}.</p>\n`);
  }
  parts.push(`<p><img src="${IMAGES[2]}" alt="third" width="8" height="8"></p>\n<p id="end">end</p>\n</body></html>\n`);
  return Buffer.from(parts.join(''), 'utf8');
}

const PAGE = buildPage();

function withBadCrc(gz: Buffer): Buffer {
  const copy = Buffer.from(gz);
  for (let i = copy.length - 8; i < copy.length - 4; i++) copy[i] = copy[i]! ^ 0xa5;
  return copy;
}

/** A lenient case: the bytes the origin sends, what Node's strict zlib makes of them, and how the proxy re-encodes. */
interface LenientCase {
  readonly name: string;
  readonly path: string;
  readonly coding: 'gzip' | 'deflate';
  readonly body: Buffer;
  /** Whether the origin sends a (correct) Content-Length, or chunked without one. */
  readonly contentLength: boolean;
  /** Node's strict decoder for the coding: throws on malformed input (null for the well-formed contrast). */
  readonly strict: ((bytes: Buffer) => Buffer) | null;
}

const GZIP = zlib.gzipSync(PAGE);
const LENIENT_CASES: readonly LenientCase[] = [
  { name: 'gzip with a bad CRC32', path: '/bad-crc.html', coding: 'gzip', body: withBadCrc(GZIP), contentLength: true, strict: zlib.gunzipSync },
  { name: 'gzip followed by "\\n"', path: '/trailing-newline.html', coding: 'gzip', body: Buffer.concat([GZIP, Buffer.from('\n')]), contentLength: false, strict: zlib.gunzipSync },
  { name: 'gzip followed by 16 bytes of 0xAB', path: '/trailing-garbage.html', coding: 'gzip', body: Buffer.concat([GZIP, Buffer.alloc(16, 0xab)]), contentLength: true, strict: zlib.gunzipSync },
  {
    // What looks like a second member but is not one (invalid block type): Chromium stops after the first member.
    name: 'gzip followed by a broken second member',
    path: '/trailing-member.html',
    coding: 'gzip',
    body: Buffer.concat([GZIP, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(8, 0xff)]),
    contentLength: false,
    strict: zlib.gunzipSync,
  },
  { name: 'raw deflate labelled deflate', path: '/raw-deflate.html', coding: 'deflate', body: zlib.deflateRawSync(PAGE), contentLength: false, strict: zlib.inflateSync },
  { name: 'well-formed gzip (contrast)', path: '/well-formed.html', coding: 'gzip', body: GZIP, contentLength: true, strict: null },
];

/** 2 KB of random bytes labelled gzip (the first byte kept off gzip's magic 0x1f). */
const RANDOM_BYTES = (() => {
  const next = prng(0xc0ffee);
  const bytes = Buffer.alloc(2048);
  for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
  if (bytes[0] === 0x1f) bytes[0] = 0x20;
  return bytes;
})();
/** A correct gzip header, then deflate data that fails at its first block (BTYPE 11, reserved): nothing decodes. */
const BROKEN_DEFLATE_IN_GZIP = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(2038, 0xff)]);

/** Bounded waits: a hang fails the test within its normal time instead of stalling the run. */
const NO_HANG_MS = 10_000;

describe('lenient content codings in Chromium through the proxy (SPEC §3 Encodings)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let browser: Browser;
  let png: Buffer;
  /** Origin responses of the corrupt page left open on purpose: the proxy must not wait for their end. */
  const openResponses: { path: string; closed: Promise<unknown> }[] = [];

  before(async () => {
    png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#c00' } }).png().toBuffer();
    origin = await startOrigin((req, res) => {
      const path = new URL(req.url ?? '/', 'http://origin.invalid').pathname;
      if (IMAGES.includes(path)) {
        res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(png.length), 'Cache-Control': 'max-age=3600' });
        res.end(png);
        return;
      }
      const lenient = LENIENT_CASES.find((c) => c.path === path);
      if (lenient) {
        serveInPieces(res, lenient.coding, lenient.body, lenient.contentLength);
        return;
      }
      if (path === '/corrupt-random.html') {
        serveInPieces(res, 'gzip', RANDOM_BYTES, true);
        return;
      }
      if (path === '/corrupt-deflate-in-gzip.html') {
        serveInPieces(res, 'gzip', BROKEN_DEFLATE_IN_GZIP, true);
        return;
      }
      if (path === '/corrupt-open.html') {
        // The corrupt bytes, then the response is left open: only the proxy giving up on it can end it.
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Encoding': 'gzip' });
        res.write(RANDOM_BYTES);
        openResponses.push({ path, closed: once(res, 'close') });
        return;
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await proxy?.stop(5000);
    await origin?.close();
  });

  describe('control: the origin bytes are really malformed (Node\'s strict zlib refuses them)', () => {
    for (const c of LENIENT_CASES) {
      it(`${c.name}: strict decoding of the origin bytes ${c.strict ? 'throws' : 'succeeds'}`, async () => {
        const res = await fetchRaw(new URL(c.path, origin.url), { headers: { 'User-Agent': CHROME_UA, 'Accept-Encoding': c.coding } });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], c.coding);
        assert.deepEqual(res.body, c.body, 'the origin sent exactly the prepared bytes');
        if (c.strict) assert.throws(() => c.strict!(res.body), (err: NodeJS.ErrnoException) => String(err.code).startsWith('Z_'));
        else assert.deepEqual(zlib.gunzipSync(res.body), PAGE);
      });
    }
    it('the corrupt bodies cannot be decoded even leniently (raw inflate of what follows the gzip header fails)', () => {
      assert.notEqual(RANDOM_BYTES[0], 0x1f, 'random bytes without gzip magic');
      assert.throws(() => zlib.inflateRawSync(BROKEN_DEFLATE_IN_GZIP.subarray(10), { finishFlush: zlib.constants.Z_SYNC_FLUSH }), /invalid block type/);
    });
  });

  describe('Chromium shows each lenient page whole, with every image marked and loaded', () => {
    for (const c of LENIENT_CASES) {
      it(`${c.name}: straight from the origin, Chromium shows the whole page (the baseline the proxy must match)`, async () => {
        const view = await visit(browser, new URL(c.path, origin.url));
        assert.equal(view.status, 200);
        assert.equal(view.contentEncoding, c.coding);
        assert.equal(view.failedRequests.length, 0, view.failedRequests.join('; '));
        assert.equal(view.end, 'end', 'the whole page arrived');
        assert.deepEqual(view.images.map((image) => image.src), IMAGES, 'unmarked straight from the origin');
      });

      it(`${c.name}: through the proxy, the whole page, every <img> marked m=ic and loaded at 8×8`, async () => {
        const view = await visit(browser, new URL(c.path, proxy.url));
        assert.equal(view.status, 200);
        assert.equal(view.contentEncoding, c.coding, 'the proxy re-encodes in the origin\'s coding');
        // A response cut after its head (what a strict decoder failing at the trailer would give) fails here.
        assert.equal(view.documentFailure, null, `the document response completed: ${view.documentFailure}`);
        assert.equal(view.failedRequests.length, 0, view.failedRequests.join('; '));
        assert.equal(view.end, 'end', 'the whole page arrived: #end is in the DOM');
        assert.equal(view.paragraphs, PARAGRAPHS, 'every paragraph arrived');
        assert.equal(view.images.length, IMAGES.length, JSON.stringify(view.images));
        for (const [i, image] of view.images.entries()) {
          assert.match(image.src, /^\/img\/\d\.png\?m=ic(,[a-z]+)*$/, `image ${i} is marked`);
          assert.ok(image.src.startsWith(`${IMAGES[i]}?`), `image ${i} keeps its path: ${image.src}`);
          assert.ok(image.complete, `${image.src} complete`);
          assert.equal(image.naturalWidth, 8, `${image.src} decoded at its natural width`);
        }
        for (const image of view.imageResponses) assert.equal(image.status, 200, image.url);
        assert.equal(view.imageResponses.length, IMAGES.length, 'each image came from the proxy');
        assert.ok(view.imageResponses.every((image) => new URL(image.url).host === proxy.url.host && new URL(image.url).search.startsWith('?m=ic')));
      });

      it(`${c.name}: a direct client with Accept-Encoding ${c.coding} gets a strictly well-formed ${c.coding} body`, async () => {
        const res = await fetchRaw(new URL(c.path, proxy.url), {
          headers: { 'User-Agent': CHROME_UA, Accept: 'text/html', 'Accept-Encoding': c.coding },
        });
        assert.equal(res.status, 200);
        assert.ok(res.complete, 'the response was not cut');
        assert.equal(res.headers['content-encoding'], c.coding);
        if (res.headers['content-length'] !== undefined) assert.equal(Number(res.headers['content-length']), res.body.length);
        // Strict: gunzipSync checks the CRC32 and ISIZE and refuses trailing bytes; inflateSync wants the zlib
        // header and checks the Adler-32.
        const text = (c.coding === 'gzip' ? zlib.gunzipSync(res.body) : zlib.inflateSync(res.body)).toString('utf8');
        assert.ok(text.includes('id="end"'), 'the whole page');
        for (const image of IMAGES) assert.match(text, new RegExp(`src="${image.replace(/[./]/g, '\\$&')}\\?m=ic[,a-z]*"`), `${image} marked`);
        assert.ok(!/src="\/img\/\d\.png"/.test(text), 'no image left unmarked');
        assert.equal(text.replace(/\?m=ic[,a-z]*/g, ''), PAGE.toString('utf8'), 'identical to the page outside the marks');
      });
    }
  });

  describe('a truly corrupt body never hangs: 502 when nothing was sent, and the proxy stays up', () => {
    for (const path of ['/corrupt-random.html', '/corrupt-deflate-in-gzip.html', '/corrupt-open.html']) {
      it(`${path}: a direct client gets a 502 within ${NO_HANG_MS / 1000} s`, async () => {
        const res = await fetch(new URL(path, proxy.url), {
          headers: { 'User-Agent': CHROME_UA, Accept: 'text/html', 'Accept-Encoding': 'gzip' },
          signal: AbortSignal.timeout(NO_HANG_MS),
        });
        const body = await res.text();
        assert.equal(res.status, 502);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
        assert.match(body, /^502 Bad Gateway: .*gzip.*could not be decoded/);
      });
    }

    it('the origin response left open is abandoned by the proxy (its connection closes)', async () => {
      assert.ok(openResponses.length >= 1, 'the open corrupt response was requested');
      for (const open of openResponses) await withTimeout(open.closed, NO_HANG_MS, `the proxy still holds ${open.path}`);
    });

    it('Chromium navigating to a corrupt page gets the 502, not a hang or a blank 200', async () => {
      const page = await browser.newPage();
      try {
        const response = await page.goto(new URL('/corrupt-open.html', proxy.url).href, { timeout: NO_HANG_MS });
        assert.equal(response?.status(), 502);
        assert.match(await page.locator('body').innerText(), /502 Bad Gateway/);
      } finally {
        await page.close();
      }
    });

    it('after the corrupt pages the same proxy still serves a page, rewritten, to a client and to Chromium', async () => {
      const res = await fetchRaw(new URL('/well-formed.html', proxy.url), { headers: { 'User-Agent': CHROME_UA, Accept: 'text/html', 'Accept-Encoding': 'gzip' } });
      assert.equal(res.status, 200);
      const text = zlib.gunzipSync(res.body).toString('utf8');
      assert.ok(text.includes('id="end"'));
      for (const image of IMAGES) assert.ok(text.includes(`src="${image}?m=ic`), `${image} marked`);
      const view = await visit(browser, new URL('/well-formed.html?again', proxy.url));
      assert.equal(view.status, 200);
      assert.equal(view.end, 'end');
      assert.ok(view.images.length === IMAGES.length && view.images.every((image) => image.src.includes('?m=ic') && image.naturalWidth === 8), JSON.stringify(view.images));
    });
  });
});

/** Sends `body` as the origin would: headers, then the bytes in 1 KiB writes (one chunk each when chunked). */
function serveInPieces(res: ServerResponse, coding: string, body: Buffer, contentLength: boolean): void {
  const headers: Record<string, string> = { 'Content-Type': 'text/html; charset=utf-8', 'Content-Encoding': coding };
  if (contentLength) headers['Content-Length'] = String(body.length);
  res.writeHead(200, headers);
  for (let at = 0; at < body.length; at += 1024) res.write(body.subarray(at, at + 1024));
  res.end();
}

interface PageVisit {
  status: number | undefined;
  contentEncoding: string | undefined;
  /** Null when the document response finished, else Chromium's failure text. */
  documentFailure: string | null;
  failedRequests: string[];
  end: string | null;
  paragraphs: number;
  images: { src: string; complete: boolean; naturalWidth: number }[];
  imageResponses: { url: string; status: number }[];
}

/** The little of the DOM this file reads inside the page (the project's TypeScript has no DOM library). */
interface InPage {
  readonly document: {
    querySelector(selector: string): { readonly textContent: string | null } | null;
    querySelectorAll(selector: string): { readonly length: number };
    readonly images: ArrayLike<{ readonly complete: boolean; readonly naturalWidth: number; getAttribute(name: string): string | null }>;
  };
}

/** Opens `url` in a fresh page (Playwright gives each its own context: no cache shared between visits), waits for its load event (which waits for its images), and reads the DOM. */
async function visit(browser: Browser, url: URL): Promise<PageVisit> {
  const page: Page = await browser.newPage();
  const failedRequests: string[] = [];
  const imageResponses: { url: string; status: number }[] = [];
  page.on('requestfailed', (request) => failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`));
  page.on('response', (response: Response) => {
    if (response.request().resourceType() === 'image') imageResponses.push({ url: response.url(), status: response.status() });
  });
  try {
    const response = await page.goto(url.href, { waitUntil: 'load', timeout: NO_HANG_MS });
    const documentFailure = response ? await response.finished() : null;
    const dom = await page.evaluate(() => {
      const { document } = globalThis as unknown as InPage;
      return {
        end: document.querySelector('#end')?.textContent ?? null,
        paragraphs: document.querySelectorAll('p.para').length,
        images: Array.from(document.images, (img) => ({ src: img.getAttribute('src') ?? '', complete: img.complete, naturalWidth: img.naturalWidth })),
      };
    });
    return {
      status: response?.status(),
      contentEncoding: (await response?.allHeaders())?.['content-encoding'],
      documentFailure: documentFailure ? String(documentFailure) : null,
      failedRequests,
      imageResponses,
      ...dom,
    };
  } finally {
    await page.close();
  }
}

/** `promise`, or a rejection after `ms` (the timer is cleared as soon as the promise settles). */
async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
