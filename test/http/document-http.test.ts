import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { privateCacheControl, rewrittenDocumentHeaders } from '../../src/http/document-headers.js';
import { fetchRaw } from '../support/client.js';
import { CHROME_UA } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const PAGE = '<html><body><img src="/a.png"></body></html>';
/** As rewritten for Chrome by the first suite's proxy (its config offers WebP and AVIF). */
const REWRITTEN = '<html><body><img src="/a.png?m=ic,webp,avif"></body></html>';
/** Another Chrome, another version: the same mark as CHROME_UA. */
const OTHER_CHROME_UA = CHROME_UA.replace('Chrome/120.0.0.0', 'Chrome/121.0.6167.85');

/** An origin that honours Range (206 with Content-Range) as real servers do, so a forwarded Range shows. */
function pageOrigin(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const type = /\.(mp4|pdf)$/.test(url) ? 'video/mp4' : 'text/html';
  const body = Buffer.from(type === 'text/html' ? PAGE : '0123456789abcdefghij');
  const headers = { 'Content-Type': type, ETag: '"v1"', 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT', Vary: 'Accept-Encoding', 'Accept-Ranges': 'bytes' };
  if (req.headers['if-none-match'] === '"v1"' || req.headers['if-none-match'] === 'W/"v1"' || req.headers['if-modified-since'] === headers['Last-Modified']) {
    res.writeHead(304, { ETag: '"v1"', Vary: 'Accept-Encoding', 'Cache-Control': 'max-age=60' });
    res.end();
    return;
  }
  const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
  if (range) {
    const [from, to] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
    res.writeHead(206, { ...headers, 'Content-Range': `bytes ${from}-${to}/${body.length}`, 'Content-Length': String(to - from + 1) });
    res.end(req.method === 'HEAD' ? undefined : body.subarray(from, to + 1));
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Length': String(body.length) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

describe('HTTP around a rewritten document (RFC 9110)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin(pageOrigin);
    // <image-scaling/> adds Accept-CH to rewritten pages: HEAD and 304 must carry it too.
    proxy = await startProxy({ origin: origin.url, elements: '<image-scaling/><image-compression/><rewrite cache-size="0"/>' });
  });
  beforeEach(() => origin.handle(pageOrigin));
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  const request = (path: string, method: string, headers: Record<string, string> = {}) =>
    fetchRaw(new URL(path, proxy.url), { method, headers: { 'User-Agent': CHROME_UA, ...headers } });

  it('HEAD for a page gets the headers GET gets: weak ETag, no Content-Length, Vary with User-Agent, Accept-CH', async () => {
    const get = await request('/page.html', 'GET');
    assert.equal(get.body.toString(), REWRITTEN);
    const head = await request('/page.html', 'HEAD');
    assert.equal(origin.requests.at(-1)?.method, 'HEAD', 'forwarded as HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers.etag, 'W/"v1"');
    assert.equal(head.headers['content-length'], undefined);
    assert.equal(head.headers['accept-ranges'], undefined);
    assert.equal(head.headers.vary, 'Accept-Encoding, User-Agent');
    for (const name of ['etag', 'vary', 'accept-ch', 'content-type', 'last-modified', 'content-length']) assert.equal(head.headers[name], get.headers[name], name);
    assert.ok(head.headers['accept-ch'], 'Accept-CH present');
  });

  for (const label of ['csunicode', 'iso-10646-ucs-2', 'UCS-2', 'unicodeFFFE', 'utf-16le', 'iso-2022-jp', 'replacement', 'utf-32']) {
    it(`a page in charset=${label} (not ASCII-compatible) passes byte for byte, even where its bytes spell <img src=a.png>`, async () => {
      // UTF-16LE code units whose bytes read "<img src=a.png>" byte-wise: U+693C is 3C 69 ("<i"), and so on.
      const body = Buffer.from('<img src=a.png>\0', 'latin1');
      origin.handle((_req, res) => {
        res.writeHead(200, { 'Content-Type': `text/html; charset=${label}`, 'Content-Length': String(body.length) });
        res.end(body);
      });
      const res = await request(`/utf16-${label}.html`, 'GET');
      assert.deepEqual(res.body, body);
    });
  }

  it('a stylesheet above 1 MiB passes as it is (it is parsed whole, synchronously: no connection waits on it)', async () => {
    const css = Buffer.from(`a{background:url(a.png)}\n${'p{color:red}\n'.repeat(90_000)}`);
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/css' });
      res.end(css);
    });
    const res = await request('/big.css', 'GET');
    assert.ok(css.length > 2 ** 20);
    assert.deepEqual(res.body, css);
  });

  it('HEAD for a file that is not rewritten keeps the origin headers', async () => {
    const head = await request('/movie.mp4', 'HEAD');
    assert.equal(head.headers.etag, '"v1"');
    assert.equal(head.headers['content-length'], '20');
    assert.equal(head.headers.vary, 'Accept-Encoding');
  });

  for (const [header, value] of [
    ['If-None-Match', '"v1"'],
    ['If-None-Match', 'W/"v1"'],
    ['If-Modified-Since', 'Wed, 21 Oct 2015 07:28:00 GMT'],
  ] as const) {
    it(`the origin's 304 to a page (${header}: ${value}) has the rewritten page's weak ETag and Vary`, async () => {
      const res = await request('/page.html', 'GET', { [header]: value });
      assert.equal(origin.requests.at(-1)?.headers[header.toLowerCase()], value, 'the condition reached the origin');
      assert.equal(res.status, 304);
      assert.equal(res.headers.etag, 'W/"v1"');
      assert.equal(res.headers.vary, 'Accept-Encoding, User-Agent');
      assert.equal(res.headers['cache-control'], 'max-age=60');
      assert.ok(res.headers['accept-ch'], 'Accept-CH as on the 200');
    });
  }

  it("the origin's 304 to a video keeps its strong ETag and Vary", async () => {
    const res = await request('/movie.mp4', 'GET', { 'If-None-Match': '"v1"', Accept: '*/*' });
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, '"v1"');
    assert.equal(res.headers.vary, 'Accept-Encoding');
  });

  for (const [what, path, accept] of [
    ['a page by its path', '/page.html', '*/*'],
    ['a page by its Accept', '/articles/42', 'text/html,application/xhtml+xml,*/*;q=0.8'],
    ['the site root', '/', '*/*'],
  ] as const) {
    it(`Range and If-Range on ${what} are not forwarded: the whole page, rewritten, as a 200`, async () => {
      const res = await request(path, 'GET', { Accept: accept, Range: 'bytes=0-9', 'If-Range': '"v1"' });
      const seen = origin.requests.at(-1)!;
      assert.equal(seen.headers.range, undefined);
      assert.equal(seen.headers['if-range'], undefined);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), REWRITTEN);
      assert.equal(res.headers['content-range'], undefined);
    });
  }

  it('If-Range on a path that may be a page is not forwarded: its validator may be the rewritten page\'s (hostile review)', async () => {
    // The rewritten 200 keeps the origin's Last-Modified: a client resuming it by date got the origin's bytes.
    const res = await request('/about', 'GET', { Accept: '*/*', Range: 'bytes=40-', 'If-Range': 'Tue, 01 Dec 2026 10:00:00 GMT' });
    const seen = origin.requests.at(-1)!;
    assert.equal(seen.headers.range, undefined);
    assert.equal(seen.headers['if-range'], undefined);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), REWRITTEN);
  });

  it('Range on a video is forwarded and its 206 passes through', async () => {
    const res = await request('/movie.mp4', 'GET', { Accept: '*/*', Range: 'bytes=2-5' });
    assert.equal(origin.requests.at(-1)?.headers.range, 'bytes=2-5');
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], 'bytes 2-5/20');
    assert.equal(res.body.toString(), '2345');
  });

  it('Range on a path that is not a page and asks for no HTML is forwarded; a 206 page passes through unrewritten', async () => {
    const res = await request('/api/export', 'GET', { Accept: '*/*', Range: 'bytes=0-17' });
    assert.equal(origin.requests.at(-1)?.headers.range, 'bytes=0-17');
    assert.equal(res.status, 206);
    assert.equal(res.body.toString(), PAGE.slice(0, 18));
    assert.equal(res.headers.etag, '"v1"');
    assert.equal(res.headers.vary, 'Accept-Encoding');
  });
});

describe('kept pages are keyed by the request headers the origin varies by', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin();
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  /** The page names the browser it was made for; its ETag too (a different page, a different tag). */
  const byUserAgent = (vary: string) =>
    origin.handle((req, res) => {
      const browser = String(req.headers['user-agent']).match(/Chrome\/(\d+)/)?.[1] ?? 'other';
      const etag = `"chrome-${browser}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { ETag: etag, Vary: vary });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html', ETag: etag, Vary: vary });
      res.end(`<p>for Chrome ${browser}</p><img src="/a.png">`);
    });
  const get = (path: string, userAgent: string) => fetchRaw(new URL(path, proxy.url), { headers: { 'User-Agent': userAgent } });

  it('two browsers with the same mark each get the page the origin made for them', async () => {
    byUserAgent('User-Agent');
    const first = await get('/by-ua.html', CHROME_UA);
    assert.match(first.body.toString(), /^<p>for Chrome 120<\/p><img src="\/a\.png\?m=ic,webp,avif,zorro">$/);
    const other = await get('/by-ua.html', OTHER_CHROME_UA);
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined, "not revalidated with the other browser's page");
    assert.match(other.body.toString(), /^<p>for Chrome 121<\/p><img src="\/a\.png\?m=ic,webp,avif,zorro">$/);
    // Both are kept, each for its own browser.
    const again = await get('/by-ua.html', CHROME_UA);
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], '"chrome-120"');
    assert.equal(again.body.toString(), first.body.toString());
    const otherAgain = await get('/by-ua.html', OTHER_CHROME_UA);
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], '"chrome-121"');
    assert.equal(otherAgain.body.toString(), other.body.toString());
  });

  it('a page the origin varies by another request header is kept per value of that header', async () => {
    origin.handle((req, res) => {
      const lang = String(req.headers['accept-language'] ?? 'none');
      const etag = `"${lang}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { ETag: etag, Vary: 'Accept-Language' });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html', ETag: etag, Vary: 'Accept-Language' });
      res.end(`<p lang="${lang}"></p>`);
    });
    const fetchIn = (lang: string) => fetchRaw(new URL('/by-lang.html', proxy.url), { headers: { 'User-Agent': CHROME_UA, 'Accept-Language': lang } });
    await fetchIn('fr');
    const de = await fetchIn('de');
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined);
    assert.equal(de.body.toString(), '<p lang="de"></p>');
    const fr = await fetchIn('fr');
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], '"fr"');
    assert.equal(fr.body.toString(), '<p lang="fr"></p>');
  });

  it('a page with Vary: * is never kept', async () => {
    byUserAgent('*');
    await get('/vary-star.html', CHROME_UA);
    await get('/vary-star.html', CHROME_UA);
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined);
  });
});

describe('<rewrite shared-caches="private">: rewritten documents are private for caches that ignore Vary (SPEC §3)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const ORIGIN_CACHE_CONTROL = 'public, max-age=300, s-maxage=600, must-revalidate';
  /** Pages, a stylesheet and an image, each with the same Cache-Control and validators, revalidated by ETag. */
  function cacheableOrigin(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const type = url.endsWith('.css') ? 'text/css' : url.endsWith('.png') ? 'image/png' : 'text/html';
    const cacheControl = url.startsWith('/no-cache-control') ? {} : { 'Cache-Control': ORIGIN_CACHE_CONTROL };
    if (req.headers['if-none-match'] === '"v1"' || req.headers['if-none-match'] === 'W/"v1"') {
      res.writeHead(304, { ETag: '"v1"', ...cacheControl });
      res.end();
      return;
    }
    const body = type === 'text/css' ? 'p { background: url(/a.png) }' : type === 'image/png' ? 'not really a png' : PAGE;
    res.writeHead(200, { 'Content-Type': type, ETag: '"v1"', ...cacheControl });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
  before(async () => {
    origin = await startOrigin(cacheableOrigin);
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/><rewrite shared-caches="private"/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });
  const request = (path: string, method = 'GET', headers: Record<string, string> = {}) =>
    fetchRaw(new URL(path, proxy.url), { method, headers: { 'User-Agent': CHROME_UA, ...headers } });

  it('a page, its HEAD, its 304 and the page kept for revalidation are private, Vary: User-Agent kept', async () => {
    const get = await request('/private.html');
    assert.match(get.body.toString(), /\?m=ic,webp,avif,zorro"/, 'rewritten');
    assert.equal(get.headers['cache-control'], 'private, max-age=300, must-revalidate');
    assert.equal(get.headers.vary, 'User-Agent');
    assert.equal(get.headers.etag, 'W/"v1"');
    // The proxy's own copy, revalidated with a conditional request of its own (the client sent none).
    const kept = await request('/private.html');
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], '"v1"', 'served from the kept page');
    assert.equal(kept.body.toString(), get.body.toString());
    assert.equal(kept.headers['cache-control'], 'private, max-age=300, must-revalidate');
    const head = await request('/private.html', 'HEAD');
    assert.equal(head.headers['cache-control'], 'private, max-age=300, must-revalidate');
    const notModified = await request('/private.html', 'GET', { 'If-None-Match': 'W/"v1"' });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['cache-control'], 'private, max-age=300, must-revalidate');
    assert.equal(notModified.headers.vary, 'User-Agent');
  });

  it('a rewritten stylesheet is private too; a page without Cache-Control gets a bare private', async () => {
    const css = await request('/site.css', 'GET', { Accept: 'text/css,*/*;q=0.1' });
    assert.match(css.body.toString(), /url\(\/a\.png\?m=ic,webp,avif,zorro\)/);
    assert.equal(css.headers['cache-control'], 'private, max-age=300, must-revalidate');
    const bare = await request('/no-cache-control.html');
    assert.equal(bare.headers['cache-control'], 'private');
    const bareNotModified = await request('/no-cache-control.html', 'GET', { 'If-None-Match': 'W/"v1"' });
    assert.equal(bareNotModified.status, 304);
    assert.equal(bareNotModified.headers['cache-control'], 'private', 'the 304 says what the 200 says');
  });

  it('what is not rewritten keeps the origin\'s Cache-Control', async () => {
    const download = await request('/file.png', 'GET', { Accept: '*/*' });
    assert.equal(download.headers['cache-control'], ORIGIN_CACHE_CONTROL);
  });
});

describe('the Cache-Control of a rewritten document, by <rewrite shared-caches>', () => {
  const origin = ['Content-Type', 'text/html', 'Cache-Control', 'public, max-age=60', 'Vary', 'Accept-Encoding', 'Cache-Control', 's-maxage=600, stale-if-error=30'];
  const named = (headers: readonly string[], name: string) => headers.filter((_, i) => i % 2 === 1 && headers[i - 1]!.toLowerCase() === name);

  it('vary: as the origin sent it, User-Agent merged into Vary', () => {
    const headers = rewrittenDocumentHeaders(origin, 'vary');
    assert.deepEqual(named(headers, 'cache-control'), ['public, max-age=60', 's-maxage=600, stale-if-error=30']);
    assert.deepEqual(named(headers, 'vary'), ['Accept-Encoding, User-Agent']);
  });

  it('private: one field, where the first stood, without what lets shared caches keep it', () => {
    const headers = rewrittenDocumentHeaders(origin, 'private');
    assert.deepEqual(headers, ['Content-Type', 'text/html', 'Cache-Control', 'private, max-age=60, stale-if-error=30', 'Vary', 'Accept-Encoding, User-Agent']);
    assert.deepEqual(named(rewrittenDocumentHeaders(['Content-Type', 'text/html'], 'private'), 'cache-control'), ['private']);
  });

  for (const [written, expected] of [
    ['', 'private'],
    ['public', 'private'],
    ['PUBLIC, S-MaxAge=60, max-age=10', 'private, max-age=10'],
    ['private', 'private'],
    ['private="Set-Cookie", max-age=5', 'private, max-age=5'],
    ['no-cache="Set-Cookie, X-Token", public', 'private, no-cache="Set-Cookie, X-Token"'],
    ['no-store, no-transform', 'private, no-store, no-transform'],
    [' max-age=0 ,, must-revalidate ', 'private, max-age=0, must-revalidate'],
  ] as const) {
    it(`Cache-Control: ${JSON.stringify(written)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(privateCacheControl(written === '' ? [] : [written]), expected);
    });
  }
});

describe("a rewritten page keeps the origin's trailers (hostile review: they were dropped)", () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', Trailer: 'Server-Timing, Content-MD5' });
      res.write('<p>one<img src="/a.png">');
      res.addTrailers({ 'Server-Timing': 'db;dur=53', 'Content-MD5': 'Q2hlY2sgSW50ZWdyaXR5IQ==' });
      res.end('<p>two');
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('passes them, less a digest of the unrewritten bytes', async () => {
    const res = await fetchRaw(new URL('/trailers.html', proxy.url), { headers: { 'User-Agent': CHROME_UA, TE: 'trailers' } });
    assert.equal(res.body.toString(), '<p>one<img src="/a.png?m=ic,webp,avif,zorro"><p>two');
    assert.equal(res.trailers['server-timing'], 'db;dur=53');
    assert.equal(res.trailers['content-md5'], undefined);
  });
});
