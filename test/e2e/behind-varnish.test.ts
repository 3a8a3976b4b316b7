import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { fetchRaw } from '../support/client.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { startVarnish, type TestVarnish } from '../support/varnish.js';

/** Every page of fixtures/site/. */
const PAGES = ['index.html', 'gallery.html', 'about.html', 'products/', 'products/specs.html'];
/** Driving every image of the demo site to final takes a minute or two of CPU here; a slower machine gets room. */
const DRIVE_TIMEOUT = 15 * 60_000;
const MAX_ROUNDS = 30;

type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'avif' | 'svg';
type Capability = 'webp' | 'avif' | 'zorro';

interface Browser {
  readonly name: string;
  readonly userAgent: string;
  /** The `Accept` it sends for a page, a stylesheet and an image, and its `Accept-Encoding`. */
  readonly accept: { readonly page: string; readonly css: string; readonly image: string };
  readonly acceptEncoding: string;
  /** What it displays: the formats it decodes, and the mark tokens those allow (`zorro`: SVG masks in `<img>`). */
  readonly decodes: ReadonlySet<ImageFormat>;
  readonly shows: ReadonlySet<Capability>;
  /** It picks a `<picture>`'s `<source>` by its `type` (IE 11 knows no `<picture>`: it loads the `<img>`). */
  readonly picture: boolean;
}

/** Four browsers with their real request headers (as their network panels show them). */
const BROWSERS: readonly Browser[] = [
  {
    name: 'Chrome 124',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    accept: {
      page: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
      css: 'text/css,*/*;q=0.1',
      image: 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8',
    },
    acceptEncoding: 'gzip, deflate, br, zstd',
    decodes: new Set(['jpeg', 'png', 'gif', 'webp', 'avif', 'svg']),
    shows: new Set(['webp', 'avif', 'zorro']),
    picture: true,
  },
  {
    name: 'Firefox 125',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
    accept: { page: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8', css: 'text/css,*/*;q=0.1', image: 'image/avif,image/webp,*/*' },
    acceptEncoding: 'gzip, deflate, br',
    decodes: new Set(['jpeg', 'png', 'gif', 'webp', 'avif', 'svg']),
    shows: new Set(['webp', 'avif', 'zorro']),
    picture: true,
  },
  {
    name: 'Safari 15',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6.1 Safari/605.1.15',
    accept: {
      page: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      css: 'text/css,*/*;q=0.1',
      image: 'image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5',
    },
    acceptEncoding: 'gzip, deflate, br',
    // WebP from Safari 14 on macOS 11 (the UA does not show which macOS): never AVIF (Safari 16.4 on macOS 13).
    decodes: new Set(['jpeg', 'png', 'gif', 'webp', 'svg']),
    shows: new Set(['webp', 'zorro']),
    picture: true,
  },
  {
    name: 'IE 11',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko',
    accept: { page: 'text/html, application/xhtml+xml, image/jxr, */*', css: 'text/css, */*', image: 'image/png, image/svg+xml, image/*;q=0.8, */*;q=0.5' },
    acceptEncoding: 'gzip, deflate',
    // No WebP, no AVIF; SVG with masks in <img> from IE 10.
    decodes: new Set(['jpeg', 'png', 'gif', 'svg']),
    shows: new Set(['zorro']),
    picture: false,
  },
];
const [CHROME, , , IE11] = BROWSERS as [Browser, Browser, Browser, Browser];

/** The demo site says `max-age=0` everywhere: a CDN keeps such responses for its own TTL ("edge TTL") when allowed. */
const EDGE_TTL = `
sub vcl_backend_response {
  if (beresp.ttl <= 0s && beresp.http.Cache-Control !~ "(?i)(private|no-store|no-cache)") {
    set beresp.ttl = 1h;
  }
}`;

/**
 * A cache that keys by URL alone, as several CDNs do by default: it takes the `Vary` off what it stores (so that
 * one copy serves every request) and passes it on to clients all the same.
 */
const IGNORES_VARY = `
sub vcl_backend_response {
  if (beresp.http.Vary) {
    set beresp.http.X-Ignored-Vary = beresp.http.Vary;
    unset beresp.http.Vary;
  }
}
sub vcl_deliver {
  if (resp.http.X-Ignored-Vary) {
    set resp.http.Vary = resp.http.X-Ignored-Vary;
    unset resp.http.X-Ignored-Vary;
  }
}
${EDGE_TTL}`;

interface Fetched {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Decoded from its content coding. */
  readonly body: Buffer;
  /** Varnish answered from its cache: `X-Varnish` names this request and the one that stored the object. */
  readonly hit: boolean;
}

async function fetchAs(browser: Browser, url: URL, accept: string): Promise<Fetched> {
  const res = await fetchRaw(url, { headers: { 'User-Agent': browser.userAgent, Accept: accept, 'Accept-Encoding': browser.acceptEncoding } });
  assert.ok(res.complete, `${browser.name} ${url.pathname}${url.search}: complete body`);
  const coding = String(res.headers['content-encoding'] ?? '').toLowerCase();
  const body = coding === 'gzip' ? zlib.gunzipSync(res.body) : coding === 'br' ? zlib.brotliDecompressSync(res.body) : coding === 'deflate' ? zlib.inflateSync(res.body) : res.body;
  const hit = /^\s*\d+\s+\d+\s*$/.test(String(res.headers['x-varnish'] ?? ''));
  return { status: res.status, headers: res.headers, body, hit };
}

/** The format of image bytes by their magic numbers; `undefined` for anything else. */
function formatOf(bytes: Buffer): ImageFormat | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (bytes.subarray(0, 4).toString('latin1') === 'GIF8') return 'gif';
  if (bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'webp';
  if (bytes.subarray(4, 8).toString('latin1') === 'ftyp' && /^avi[fs]$/.test(bytes.subarray(8, 12).toString('latin1'))) return 'avif';
  if (/^(\uFEFF)?\s*(<\?xml[^>]*>\s*)?(<!--[^]*?-->\s*)*<svg[\s>]/.test(bytes.subarray(0, 4096).toString('utf8'))) return 'svg';
  return undefined;
}

/** The mark of every marked URL in a document (`m=ic,…`, SPEC §2), as its tokens after `ic`. */
function marksIn(document: string): string[][] {
  return [...document.matchAll(/[?&](?:amp;)?m=ic((?:,[a-z0-9]+)*)/g)].map((m) => m[1]!.split(',').slice(1));
}

/** Mark tokens a document promises that the browser does not show. */
function disallowedMarks(browser: Browser, document: string): string[] {
  return [...new Set(marksIn(document).flat().filter((token) => !browser.shows.has(token as Capability)))];
}

/** A marked URL inside one attribute value or one CSS `url()`: a `srcset` candidate ends at white space. */
const MARKED_URL = /[^\s"'(),<>]+[?&]m=ic(?:,[a-z0-9]+)*/g;

/** The values of every attribute of every start tag (quoted or not, `&amp;` decoded) and of every CSS `url()`. */
function urlBearingValues(document: string, kind: 'html' | 'css'): string[] {
  const urls = [...document.matchAll(/url\(\s*(["']?)([^"')]*)\1\s*\)/gi)].map((m) => m[2]!);
  if (kind === 'css') return urls;
  const tags = document.match(/<[a-z][^>]*>/gi) ?? [];
  const attributes = tags.flatMap((tag) => [...tag.matchAll(/[\s/][^\s"'>/=]+\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/g)]);
  return [...attributes.map((m) => (m[1] ?? m[2] ?? m[3]!).replace(/&amp;/g, '&')), ...urls];
}

/** The marked URLs a document holds (attribute values, `srcset` candidates, CSS `url()`), resolved. */
function markedUrls(document: string, kind: 'html' | 'css', base: URL): URL[] {
  return urlBearingValues(document, kind).flatMap((value) => [...value.matchAll(MARKED_URL)].map((m) => new URL(m[0], base)));
}

const FORMAT_BY_TYPE: Readonly<Record<string, ImageFormat>> = { 'image/jpeg': 'jpeg', 'image/png': 'png', 'image/gif': 'gif', 'image/webp': 'webp', 'image/avif': 'avif', 'image/svg+xml': 'svg' };

/**
 * The images a browser loads from a page as it got it: the marked URLs, less those of `<source>` elements it
 * skips (a `type` it does not decode; every `<source>` for a browser without `<picture>`), resolved against the
 * page's `<base href>`. Lazy-loading attributes count: the demo site's script copies them into `src`.
 */
function imagesOfPage(browser: Browser, page: string, pageUrl: URL): URL[] {
  const loaded = page.replace(/<source\b[^>]*>/gi, (tag) => {
    const type = /\stype\s*=\s*["']?([^"'\s>]+)/i.exec(tag)?.[1]?.toLowerCase();
    const format = type === undefined ? undefined : FORMAT_BY_TYPE[type];
    const skipped = !browser.picture || (type !== undefined && (format === undefined || !browser.decodes.has(format)));
    return skipped ? '' : tag;
  });
  return markedUrls(loaded, 'html', baseOf(page, pageUrl));
}

/** What a page's relative URLs resolve against: its `<base href>`, if any, else its own URL. */
function baseOf(page: string, pageUrl: URL): URL {
  const baseHref = /<base\s[^>]*href\s*=\s*["']?([^"'\s>]+)/i.exec(page)?.[1];
  return baseHref ? new URL(baseHref, pageUrl) : pageUrl;
}

/** `<link rel="stylesheet" href>` of a page, and `@import` of a stylesheet, resolved. */
function stylesheetsOf(document: string, base: URL): URL[] {
  const links = [...document.matchAll(/<link\b[^>]*>/gi)].filter((m) => /\srel\s*=\s*["']?stylesheet/i.test(m[0]));
  const hrefs = links.map((m) => /\shref\s*=\s*["']?([^"'\s>]+)/i.exec(m[0])?.[1]).filter((href) => href !== undefined);
  const imports = [...document.matchAll(/@import\s+(?:url\(\s*)?["']?([^"')\s;]+)/gi)].map((m) => m[1]!);
  return [...hrefs, ...imports].map((href) => new URL(href, base));
}

interface Tally {
  requests: number;
  hits: number;
}
const ratio = (tally: Tally) => `${tally.hits}/${tally.requests} = ${tally.requests === 0 ? '–' : `${((100 * tally.hits) / tally.requests).toFixed(1)}%`}`;

interface Visit {
  readonly pages: Tally;
  readonly images: Tally;
  /** Every image response was final (`public`): all experiments for its image and mark ran. */
  allFinal: boolean;
  /** Image requests by browser and format, to show what each got. */
  readonly formats: Map<string, Map<ImageFormat, number>>;
}

/**
 * One round: on each page the four browsers in turn (each round starting with the next browser), each loading
 * the page, its stylesheets and then, interleaved with the others, the images it holds. Asserts SPEC §2 and §5's
 * promise on what every browser got: marks it shows, formats it decodes.
 */
async function visitAll(cache: TestVarnish, round: number): Promise<Visit> {
  const visit: Visit = { pages: { requests: 0, hits: 0 }, images: { requests: 0, hits: 0 }, allFinal: true, formats: new Map() };
  const count = (tally: Tally, fetched: Fetched) => {
    tally.requests += 1;
    if (fetched.hit) tally.hits += 1;
  };
  for (const path of PAGES) {
    const order = BROWSERS.map((_, i) => BROWSERS[(i + round) % BROWSERS.length]!);
    const images = new Map<Browser, URL[]>();
    for (const browser of order) {
      const pageUrl = new URL(path, cache.url);
      const page = await fetchAs(browser, pageUrl, browser.accept.page);
      count(visit.pages, page);
      assert.equal(page.status, 200, `${browser.name} ${path}`);
      const html = page.body.toString('latin1');
      assert.deepEqual(disallowedMarks(browser, html), [], `${browser.name} got ${path} with marks it does not show (round ${round})`);
      const found = imagesOfPage(browser, html, pageUrl);
      const stylesheets = stylesheetsOf(html, baseOf(html, pageUrl));
      for (const stylesheet of stylesheets) {
        const css = await fetchAs(browser, stylesheet, browser.accept.css);
        count(visit.pages, css);
        assert.equal(css.status, 200, `${browser.name} ${stylesheet.pathname}`);
        const text = css.body.toString('latin1');
        assert.deepEqual(disallowedMarks(browser, text), [], `${browser.name} got ${stylesheet.pathname} with marks it does not show (round ${round})`);
        found.push(...markedUrls(text, 'css', stylesheet));
        for (const imported of stylesheetsOf(text, stylesheet)) if (!stylesheets.some((s) => s.href === imported.href)) stylesheets.push(imported);
      }
      assert.ok(found.length > 0, `${browser.name} ${path}: the page holds marked images (the checks are not vacuous)`);
      images.set(browser, [...new Map(found.map((url) => [url.href, url])).values()]);
    }
    const longest = Math.max(...[...images.values()].map((urls) => urls.length));
    for (let i = 0; i < longest; i += 1) {
      for (const browser of order) {
        const url = images.get(browser)![i];
        if (!url) continue;
        const image = await fetchAs(browser, url, browser.accept.image);
        count(visit.images, image);
        const where = `${browser.name} ${url.pathname}${url.search} (round ${round})`;
        assert.equal(image.status, 200, where);
        const format = formatOf(image.body);
        assert.ok(format !== undefined && browser.decodes.has(format), `${where}: ${format ?? 'unknown'} bytes (${image.headers['content-type']})`);
        const mark = url.searchParams.get('m')!.split(',');
        if (format === 'svg') assert.ok(mark.includes('zorro'), `${where}: SVG for a mark without zorro`);
        if (!/\bpublic\b/.test(String(image.headers['cache-control']))) visit.allFinal = false;
        const byFormat = visit.formats.get(browser.name) ?? new Map<ImageFormat, number>();
        byFormat.set(format, (byFormat.get(format) ?? 0) + 1);
        visit.formats.set(browser.name, byFormat);
      }
    }
  }
  return visit;
}

/** What a setup shows: rounds of visits until every image is final, then one more, all checked. */
function drivesToFinal(label: string, proxyElements: string, vcl: string, pagesCached: boolean): void {
  describe(label, () => {
    let proxy: TestProxy;
    let cache: TestVarnish;
    before(async () => {
      proxy = await startProxy({ origin: 'embedded', elements: `<image-compression preset="balanced"/>${proxyElements}` });
      cache = await startVarnish({ backendPort: proxy.port, vcl });
    });
    after(async () => {
      await cache?.stop();
      await proxy?.stop(5000);
    });

    it('every browser gets pages with only the marks it shows and images it decodes, from the first visit to the last', { timeout: DRIVE_TIMEOUT }, async (t) => {
      const all: Visit[] = [];
      let final: Visit | undefined;
      for (let round = 0; round < MAX_ROUNDS && !final; round += 1) {
        const visit = await visitAll(cache, round);
        all.push(visit);
        // Each request ran at most one experiment in the background: wait for them rather than for a time.
        await proxy.running.experimentsIdle();
        if (visit.allFinal) final = visit;
      }
      assert.ok(final, `every image final within ${MAX_ROUNDS} rounds`);
      // Final images are public: a visit after that is served from Varnish's cache, however the browsers interleave.
      const repeat = await visitAll(cache, all.length);
      all.push(repeat);
      assert.equal(repeat.images.hits, repeat.images.requests, `every image of the repeat visit from the cache: ${ratio(repeat.images)}`);
      if (pagesCached) assert.ok(repeat.pages.hits > 0, `pages and stylesheets kept per browser: ${ratio(repeat.pages)}`);
      else assert.equal(repeat.pages.hits, 0, `no page or stylesheet from the cache: ${ratio(repeat.pages)}`);
      // Every browser got a format of its own where one paid off: the checks above saw more than originals.
      assert.ok((repeat.formats.get(CHROME.name)?.get('avif') ?? 0) + (repeat.formats.get(CHROME.name)?.get('webp') ?? 0) > 0, 'Chrome got WebP or AVIF');

      const images = all.reduce((sum, visit) => ({ requests: sum.requests + visit.images.requests, hits: sum.hits + visit.images.hits }), { requests: 0, hits: 0 });
      const stats = await cache.counters('MAIN.cache_hit', 'MAIN.cache_miss', 'MAIN.cache_hitmiss', 'MAIN.s_pass');
      t.diagnostic(`${label}: ${all.length} visits of ${PAGES.length} pages by ${BROWSERS.length} browsers (the last after every image was final)`);
      t.diagnostic(`Varnish hit ratio, image requests: all visits ${ratio(images)}; the visit that found every image final ${ratio(final.images)}; the repeat visit ${ratio(repeat.images)}`);
      t.diagnostic(`Varnish hit ratio, page and stylesheet requests: repeat visit ${ratio(repeat.pages)}`);
      t.diagnostic(`varnishstat: MAIN.cache_hit ${stats['MAIN.cache_hit']}, cache_miss ${stats['MAIN.cache_miss']}, cache_hitmiss ${stats['MAIN.cache_hitmiss']}, s_pass ${stats['MAIN.s_pass']}`);
      for (const [browser, formats] of repeat.formats) t.diagnostic(`${browser}, repeat visit: ${JSON.stringify(Object.fromEntries(formats))}`);
    });
  });
}

drivesToFinal('behind Varnish honouring Vary, shared-caches="vary" (the default)', '', EDGE_TTL, true);
drivesToFinal('behind Varnish ignoring Vary, shared-caches="private"', '<rewrite shared-caches="private"/>', IGNORES_VARY, false);

describe('behind Varnish ignoring Vary, shared-caches="vary": the problem "private" solves', () => {
  let proxy: TestProxy;
  let cache: TestVarnish;
  before(async () => {
    proxy = await startProxy({ origin: 'embedded', elements: '<image-compression preset="balanced"/>' });
    cache = await startVarnish({ backendPort: proxy.port, vcl: IGNORES_VARY });
  });
  after(async () => {
    await cache?.stop();
    await proxy?.stop(5000);
  });

  it('IE 11 gets the page and stylesheet marked for Chrome, from the cache, although both say Vary: User-Agent', async () => {
    const page = new URL('gallery.html', cache.url);
    const stylesheet = new URL('css/site.css', cache.url);
    const forChrome = await fetchAs(CHROME, page, CHROME.accept.page);
    const cssForChrome = await fetchAs(CHROME, stylesheet, CHROME.accept.css);
    const forIe = await fetchAs(IE11, page, IE11.accept.page);
    const cssForIe = await fetchAs(IE11, stylesheet, IE11.accept.css);
    assert.equal(forIe.headers.vary, 'User-Agent', 'the proxy said what the page varies by');
    assert.ok(!forChrome.hit && forIe.hit, 'the second browser got the first one\'s copy');
    assert.ok(!cssForChrome.hit && cssForIe.hit, 'the second browser got the first one\'s stylesheet');
    assert.deepEqual(disallowedMarks(IE11, forIe.body.toString('latin1')).sort(), ['avif', 'webp']);
    assert.deepEqual(disallowedMarks(IE11, cssForIe.body.toString('latin1')).sort(), ['avif', 'webp']);
    assert.equal(forIe.body.toString('latin1'), forChrome.body.toString('latin1'));
  });
});
