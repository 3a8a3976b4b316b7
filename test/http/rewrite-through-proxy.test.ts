import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { parse, type DefaultTreeAdapterTypes } from 'parse5';
import { DEMO_SITE_ROOT } from '../../src/embedded/static-origin.js';
import { fetchRaw, sendRaw } from '../support/client.js';
import { CHROME_UA, CURL_UA, IE11_UA, withoutMarks } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

type Element = DefaultTreeAdapterTypes.Element;
type Node = DefaultTreeAdapterTypes.Node;

const COMPRESSION = '<image-compression preset="balanced"/>';

function pagesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? pagesUnder(join(dir, entry.name)) : entry.name.endsWith('.html') ? [join(dir, entry.name)] : [],
  );
}

/** Image URLs of a parsed page, found independently of the rewriter (parse5's tree builder). */
function imageUrls(html: string): { url: string; optedOut: boolean }[] {
  const found: { url: string; optedOut: boolean }[] = [];
  const attr = (el: Element, name: string) => el.attrs.find((a) => a.name === name)?.value;
  const srcset = (value: string) => value.split(/,\s+/).map((c) => c.trim().split(/\s+/)[0] ?? '').filter((u) => u !== '');
  const visit = (node: Node, optedOut: boolean) => {
    if (!('tagName' in node)) return;
    const el = node;
    const here = optedOut || attr(el, 'ai-compress') === 'false';
    const add = (url: string | undefined) => url && found.push({ url, optedOut: here });
    if (el.tagName === 'img' || el.tagName === 'source') {
      add(attr(el, 'src') && el.tagName === 'img' ? attr(el, 'src') : undefined);
      for (const name of ['srcset', 'data-srcset']) for (const url of srcset(attr(el, name) ?? '')) add(url);
      add(attr(el, 'data-src'));
    }
    if (el.tagName === 'input' && attr(el, 'type') === 'image') add(attr(el, 'src'));
    if (el.tagName === 'video') add(attr(el, 'poster'));
    if (['body', 'table', 'td', 'th'].includes(el.tagName)) add(attr(el, 'background'));
    for (const match of (attr(el, 'style') ?? '').matchAll(/url\(\s*['"]?([^'")]+)/g)) add(match[1]);
    const children = el.tagName === 'template' ? [] : el.childNodes;
    for (const child of children) visit(child, here);
  };
  for (const child of parse(html).childNodes) visit(child, false);
  return found;
}

const sameSite = (url: string) => !/^(data:|https?:\/\/(?!127\.0\.0\.1)|\/\/)/.test(url);

describe('rewriting through the proxy', () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startProxy({ origin: 'embedded', elements: COMPRESSION });
  });
  after(() => proxy.stop());

  const pages = pagesUnder(DEMO_SITE_ROOT).map((file) => '/' + relative(DEMO_SITE_ROOT, file).split(sep).join('/'));

  for (const page of pages) {
    it(`${page}: every same-site image URL marked for Chrome, opted-out ones untouched, nothing else changed`, async () => {
      const res = await fetchRaw(new URL(page, proxy.url), { headers: { 'User-Agent': CHROME_UA } });
      assert.equal(res.status, 200);
      assert.match(String(res.headers.vary), /User-Agent/);
      const html = res.body.toString('latin1');
      const original = readFileSync(join(DEMO_SITE_ROOT, page)).toString('latin1');
      assert.equal(withoutMarks(html).replace(/ ai-compress="false"/gi, ''), original.replace(/ ai-compress="false"/gi, ''));
      assert.ok(!/ai-compress/i.test(html), 'the opt-out attribute is removed');
      const urls = imageUrls(original).filter((u) => sameSite(u.url));
      const marked = imageUrls(html).filter((u) => sameSite(u.url));
      assert.ok(urls.length > 0);
      assert.equal(marked.length, urls.length);
      for (const [i, { url, optedOut }] of urls.entries()) {
        const out = marked[i]!.url;
        if (optedOut) assert.equal(out, url, `opted out: ${url}`);
        else assert.match(out, /[?&]m=ic,webp,avif,zorro(#.*)?$/, `marked: ${out}`);
      }
    });
  }

  it('the demo site has an opted-out image, a stylesheet with backgrounds, and several pages', () => {
    assert.ok(pages.length >= 4);
    const index = readFileSync(join(DEMO_SITE_ROOT, 'index.html'), 'utf8');
    assert.match(index, /ai-compress="false"/);
  });

  for (const [client, userAgent, mark] of [
    ['IE 11', IE11_UA, 'm=ic,zorro'],
    ['curl', CURL_UA, 'm=ic'],
    ['no User-Agent', undefined, 'm=ic'],
  ] as const) {
    it(`${client} gets ${mark}`, async () => {
      const headers: Record<string, string> = userAgent ? { 'User-Agent': userAgent } : {};
      const html = (await fetchRaw(new URL('/index.html', proxy.url), { headers })).body.toString();
      const marks = new Set([...html.matchAll(/[?&]m=(ic[a-z,]*)/g)].map((m) => `m=${m[1]}`));
      assert.deepEqual([...marks], [mark]);
    });
  }

  it('rewrites stylesheets relative to their own URL', async () => {
    const res = await fetchRaw(new URL('/css/site.css', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    const css = res.body.toString('latin1');
    assert.match(css, /url\([^)]*\?m=ic,webp,avif,zorro/);
    assert.equal(withoutMarks(css), readFileSync(join(DEMO_SITE_ROOT, 'css/site.css')).toString('latin1'));
    assert.match(String(res.headers.vary), /User-Agent/);
    assert.ok(String(res.headers.etag).startsWith('W/'), 'the ETag is weakened: the bytes changed');
  });

  it('does not rewrite images or other files (an image the first time is its original)', async () => {
    const res = await fetchRaw(new URL('/img/logo.png', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    assert.deepEqual(res.body, readFileSync(join(DEMO_SITE_ROOT, 'img/logo.png')));
    assert.doesNotMatch(String(res.headers.vary), /User-Agent/);
    const js = await fetchRaw(new URL('/favicon.ico', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    assert.deepEqual(js.body, readFileSync(join(DEMO_SITE_ROOT, 'favicon.ico')));
    assert.equal(js.headers.vary, undefined);
  });

  it('answers a marked URL with the original it names', async () => {
    const res = await fetchRaw(new URL('/img/logo.png?m=ic,webp', proxy.url));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, readFileSync(join(DEMO_SITE_ROOT, 'img/logo.png')));
  });
});

describe('rewriting: encodings, charsets, headers, streaming', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin();
    proxy = await startProxy({ origin: origin.url, elements: COMPRESSION });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  const page = Buffer.from('<html><body><img src="/a.png"><p>' + 'text '.repeat(2000) + '</p><img src="b.jpg"></body></html>');
  const encoders = { gzip: zlib.gzipSync, br: zlib.brotliCompressSync, deflate: zlib.deflateSync } as const;
  const decoders = { gzip: zlib.gunzipSync, br: zlib.brotliDecompressSync, deflate: zlib.inflateSync } as const;

  for (const coding of ['gzip', 'br', 'deflate'] as const) {
    it(`a ${coding} page comes back ${coding}-encoded and rewritten`, async () => {
      origin.handle((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Encoding': coding, ETag: '"v1"', Vary: 'Accept-Encoding' });
        res.end(encoders[coding](page));
      });
      const res = await fetchRaw(new URL('/enc', proxy.url), { headers: { 'User-Agent': CHROME_UA, 'Accept-Encoding': coding } });
      assert.equal(res.headers['content-encoding'], coding);
      const html = decoders[coding](res.body).toString();
      assert.match(html, /<img src="\/a\.png\?m=ic,webp,avif,zorro">/);
      assert.equal(withoutMarks(html), page.toString());
      assert.equal(res.headers.etag, 'W/"v1"');
      assert.equal(res.headers.vary, 'Accept-Encoding, User-Agent');
      assert.equal(res.headers['content-length'], undefined);
    });
  }

  it('keeps a windows-1252 page byte for byte outside the marks, non-ASCII names included', async () => {
    const bytes = Buffer.from('<html><head><title>Caf\xe9 \x80 \x93quoted\x94</title></head><body><p>\xe9t\xe9</p><img src="caf\xe9.png" alt="\xe0 la carte"><img src="img/gar\xe7on.jpg"></body></html>', 'latin1');
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=windows-1252' });
      res.end(bytes);
    });
    const res = await fetchRaw(new URL('/cp1252.html', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    const html = res.body.toString('latin1');
    assert.ok(html.includes('src="caf\xe9.png?m=ic,webp,avif,zorro"'));
    assert.deepEqual(Buffer.from(withoutMarks(html), 'latin1'), bytes);
    assert.equal(res.headers['content-type'], 'text/html; charset=windows-1252');
  });

  it('keeps a Shift_JIS page byte for byte (trail bytes that look like ASCII included)', async () => {
    // 日本語 (93FA 967B 8CEA), 表 (95 5C: its trail byte is a backslash), ソ (83 5C), image named 画像.png (89E6 919C).
    const bytes = Buffer.concat([
      Buffer.from('<html><head><meta charset="Shift_JIS"><title>'),
      Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]),
      Buffer.from('</title></head><body><p>'),
      Buffer.from([0x95, 0x5c, 0x83, 0x5c]),
      Buffer.from('</p><img src="'),
      Buffer.from([0x89, 0xe6, 0x91, 0x9c]),
      Buffer.from('.png" alt="'),
      Buffer.from([0x95, 0x5c]),
      Buffer.from('"></body></html>'),
    ]);
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=Shift_JIS' });
      res.end(bytes);
    });
    const res = await fetchRaw(new URL('/sjis.html', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    assert.ok(res.body.includes(Buffer.concat([Buffer.from([0x89, 0xe6, 0x91, 0x9c]), Buffer.from('.png?m=ic,webp,avif,zorro"')])));
    assert.deepEqual(Buffer.from(withoutMarks(res.body.toString('latin1')), 'latin1'), bytes);
  });

  it('passes a UTF-16 page byte for byte when its site sends the byte-order mark split (byte 0 alone, the rest later)', async () => {
    // FF FE, then code units whose bytes read "<img src=/a.png>" one by one (椼杭猠捲⼽⹡湰>), then UTF-16LE text.
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<img src=/a.png>', 'latin1'), Buffer.from('</p><p id=after>text after</p>', 'utf16le')]);
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.write(bytes.subarray(0, 1));
      setTimeout(() => res.end(bytes.subarray(1)), 50);
    });
    const res = await fetchRaw(new URL('/utf16-split.html', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    assert.deepEqual(res.body, bytes);
  });

  it('passes a UTF-16 stylesheet (byte-order mark FF FE) byte for byte', async () => {
    const bytes = Buffer.from('\xFF\xFEa{background:url(/x.png)}', 'latin1');
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/css' });
      res.write(bytes.subarray(0, 1));
      setTimeout(() => res.end(bytes.subarray(1)), 50);
    });
    const res = await fetchRaw(new URL('/utf16.css', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    assert.deepEqual(res.body, bytes);
  });

  it('reads a page with a UTF-8 byte-order mark as UTF-8 whatever charset its Content-Type names', async () => {
    // Read as Shift_JIS, あ's last byte 82 and the backslash after it would pair, and the CSS string end early.
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<style>p:before{content:"'), Buffer.from([0xe3, 0x81, 0x82]), Buffer.from('\\"; background:url(/a.png)"}</style><p>x<img src="/b.png">')]);
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=shift_jis' });
      res.end(bytes);
    });
    const res = await fetchRaw(new URL('/bom-sjis.html', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    assert.deepEqual(res.body, Buffer.concat([bytes.subarray(0, -2), Buffer.from('?m=ic,webp,avif,zorro">')]));
  });

  it('keeps real documentation pages byte for byte outside the marks', async () => {
    const dir = new URL('fixtures/pages/', PROJECT_ROOT);
    const files = readdirSync(dir).filter((f) => f.endsWith('.html'));
    assert.ok(files.length >= 3);
    for (const file of files) {
      const bytes = readFileSync(new URL(file, dir));
      origin.handle((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(bytes);
      });
      const res = await fetchRaw(new URL(`/doc/${file}`, proxy.url), { headers: { 'User-Agent': CHROME_UA } });
      assert.deepEqual(Buffer.from(withoutMarks(res.body.toString('latin1')), 'latin1'), bytes, file);
    }
  });

  for (const [why, headers, method, status] of [
    ['Cache-Control: no-transform', { 'Content-Type': 'text/html', 'Cache-Control': 'public, no-transform' }, 'GET', 200],
    ['a POST', { 'Content-Type': 'text/html' }, 'POST', 200],
    ['a 404', { 'Content-Type': 'text/html' }, 'GET', 404],
    ['an unknown content coding', { 'Content-Type': 'text/html', 'Content-Encoding': 'compress' }, 'GET', 200],
    ['UTF-16', { 'Content-Type': 'text/html; charset=UTF-16' }, 'GET', 200],
  ] as const) {
    it(`passes ${why} through unrewritten`, async () => {
      origin.handle((_req, res) => {
        res.writeHead(status, { ...headers, 'Content-Length': '20' });
        res.end('<img src="/a.png">  ');
      });
      const res = await fetchRaw(new URL('/x', proxy.url), { method, headers: { 'User-Agent': CHROME_UA } });
      assert.equal(res.body.toString(), '<img src="/a.png">  ');
      assert.equal(res.headers.vary, undefined);
    });
  }

  it('resolves relative URLs against this site even for a path that looks like another host', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<img src="a.png">');
    });
    const answer = await sendRaw(proxy.port, `GET //other.example/dir/page HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\nUser-Agent: ${CHROME_UA}\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /<img src="a\.png\?m=ic,webp,avif,zorro">/);
  });

  it('passes a page above the size limit through unrewritten', async () => {
    const small = await startProxy({ origin: origin.url, elements: `${COMPRESSION}<rewrite max-size="2KB"/>` });
    try {
      origin.handle((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': String(page.length) });
        res.end(page);
      });
      const res = await fetchRaw(new URL('/big', small.url), { headers: { 'User-Agent': CHROME_UA } });
      assert.deepEqual(res.body, page);
    } finally {
      await small.stop();
    }
  });

  it('does not rewrite when image compression is off', async () => {
    const off = await startProxy({ origin: origin.url });
    try {
      origin.handle((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end(page);
      });
      const res = await fetchRaw(new URL('/off', off.url), { headers: { 'User-Agent': CHROME_UA } });
      assert.deepEqual(res.body, page);
    } finally {
      await off.stop();
    }
  });

  for (const coding of ['identity', 'gzip'] as const) {
    it(`streams (${coding}): the client gets the head of a page before the origin sends the rest`, async () => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const head = Buffer.from('<html><head><title>t</title></head><body><img src="/first.png">' + '<p>filler</p>'.repeat(200));
      const rest = Buffer.from('<img src="/second.png"></body></html>');
      origin.handle((_req, res) => {
        const gzip = coding === 'gzip' ? zlib.createGzip() : undefined;
        res.writeHead(200, { 'Content-Type': 'text/html', ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) });
        const out = gzip ?? res;
        if (gzip) gzip.pipe(res);
        out.write(head);
        gzip?.flush(zlib.constants.Z_SYNC_FLUSH);
        void released.then(() => out.end(rest));
      });
      const req = httpRequest(new URL('/slow', proxy.url), { agent: false, headers: { 'User-Agent': CHROME_UA, 'Accept-Encoding': coding } });
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      const body = coding === 'gzip' ? res.pipe(zlib.createGunzip()) : res;
      let received = '';
      let sawFirst!: () => void;
      const firstSeen = new Promise<void>((resolve) => (sawFirst = resolve));
      body.on('data', (chunk: Buffer) => {
        received += chunk.toString();
        if (received.includes('/first.png?m=ic')) sawFirst();
      });
      const ended = once(body, 'end');
      await firstSeen;
      assert.ok(!received.includes('second'), 'the first part arrived alone');
      release();
      await ended;
      assert.ok(received.endsWith('<img src="/second.png?m=ic,webp,avif,zorro"></body></html>'));
    });
  }
});
