import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { fetchRaw } from '../support/client.js';
import { CHROME_UA, withoutMarks } from '../support/marks.js';
import { metricSamples } from '../support/metrics-text.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { readFileSync } from 'node:fs';
import { spawnProxy, startProxy, testConfigXml, type SpawnedProxy, type TestProxy, writeTempConfig } from '../support/proxy.js';

const COMPRESSION = '<image-compression preset="balanced"/>';
const PAGE = Buffer.from('<html><body><img src="/a.png"><p>' + 'text '.repeat(2000) + '</p><img src="b.jpg"></body></html>');
const REWRITTEN = PAGE.toString().replace('/a.png', '/a.png?m=ic,webp,avif,zorro').replace('b.jpg', 'b.jpg?m=ic,webp,avif,zorro');

/** A gzip member with every optional header field (RFC 1952 §2.3): FEXTRA, FNAME, FCOMMENT and FHCRC. */
function gzipWithAllHeaderFields(data: Buffer): Buffer {
  const plain = zlib.gzipSync(data);
  const extra = Buffer.from([6, 0, 0x41, 0x42, 2, 0, 1, 2]); // XLEN 6: one subfield "AB" of 2 bytes
  const header = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3]),
    extra,
    Buffer.from('page.html\0comment\0', 'latin1'),
    Buffer.from([0x12, 0x34]), // FHCRC: not checked by Chromium, nor here
  ]);
  return Buffer.concat([header, plain.subarray(10)]);
}

const withBadCrc = (gz: Buffer) => {
  const copy = Buffer.from(gz);
  copy[copy.length - 8]! ^= 0xff;
  return copy;
};
const withBadIsize = (gz: Buffer) => {
  const copy = Buffer.from(gz);
  copy.writeUInt32LE(7, copy.length - 4);
  return copy;
};
const withBadAdler = (z: Buffer) => {
  const copy = Buffer.from(z);
  copy[copy.length - 1]! ^= 0xff;
  return copy;
};

describe('lenient decoding of rewritten pages (as Chromium decodes them)', () => {
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

  const serve = (coding: string, body: Buffer) =>
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Encoding': coding, 'Content-Length': String(body.length) });
      res.end(body);
    });
  const get = (path: string, coding: string) => fetchRaw(new URL(path, proxy.url), { headers: { 'User-Agent': CHROME_UA, 'Accept-Encoding': coding } });

  for (const [what, body] of [
    ['a bad CRC32', withBadCrc(zlib.gzipSync(PAGE))],
    ['a bad ISIZE', withBadIsize(zlib.gzipSync(PAGE))],
    ['a "\\n" after the member', Buffer.concat([zlib.gzipSync(PAGE), Buffer.from('\n')])],
    ['a second member after the first', Buffer.concat([zlib.gzipSync(PAGE), zlib.gzipSync('<p>second member</p>')])],
    ['garbage after the member', Buffer.concat([zlib.gzipSync(PAGE), Buffer.from('garbage, not a gzip header')])],
    ['FEXTRA, FNAME, FCOMMENT and FHCRC in its header', gzipWithAllHeaderFields(PAGE)],
  ] as const) {
    it(`gzip with ${what}: the whole page, rewritten, in valid gzip`, async () => {
      serve('gzip', body);
      const res = await get('/gzip.html', 'gzip');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], 'gzip');
      // gunzipSync checks the CRC and ISIZE and refuses trailing garbage: what we send is strictly valid.
      assert.equal(zlib.gunzipSync(res.body).toString(), REWRITTEN);
    });
  }

  for (const [what, body] of [
    ['raw deflate (no zlib header)', zlib.deflateRawSync(PAGE)],
    ['zlib-wrapped deflate', zlib.deflateSync(PAGE)],
    ['zlib-wrapped deflate with a bad Adler-32', withBadAdler(zlib.deflateSync(PAGE))],
  ] as const) {
    it(`deflate as ${what}: the whole page, rewritten, in zlib-wrapped deflate`, async () => {
      serve('deflate', body);
      const res = await get('/deflate.html', 'deflate');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], 'deflate');
      assert.equal(zlib.inflateSync(res.body).toString(), REWRITTEN);
    });
  }

  it('br cut short is decoded as far as it goes, as Chromium shows it, not turned into a 502', async () => {
    // Text that compresses poorly, so that the last bytes of the stream hold only the end of the page.
    const page = Buffer.from(`<html><body><img src="/a.png"><p>${Array.from({ length: 3000 }, (_, i) => `w${(i * 7919) % 10007}`).join(' ')}</p></body></html>`);
    const full = zlib.brotliCompressSync(page);
    serve('br', full.subarray(0, full.length - 20));
    const res = await get('/br-cut.html', 'br');
    assert.equal(res.status, 200);
    const text = zlib.brotliDecompressSync(res.body).toString('latin1');
    assert.ok(text.startsWith('<html><body><img src="/a.png?m=ic,webp,avif,zorro"><p>w0 w7919'), text.slice(0, 80));
    assert.ok(text.length > page.length - 400 && text.length < page.length, `${text.length} of ${page.length} bytes`);
  });

  it('a decompression bomb is rewritten only up to 100× its compressed size; a real page of the same length in full', async () => {
    const spaces = (n: number) => ' '.repeat(n);
    const bomb = Buffer.from(`<html><body><img src="/first.png">${spaces(10e6)}<img src="/after.png">${spaces(10e6)}</body></html>`);
    const packed = zlib.gzipSync(bomb);
    assert.ok(packed.length < 40_000 && bomb.length / packed.length > 500, `${packed.length} bytes packed`);
    serve('gzip', packed);
    const res = await get('/bomb.html', 'gzip');
    const text = zlib.gunzipSync(res.body).toString('latin1');
    assert.equal(text.length, bomb.length + 'm=ic,webp,avif,zorro?'.length, 'the whole page, one mark');
    assert.ok(text.includes('/first.png?m=ic,webp,avif,zorro'));
    assert.ok(text.includes('<img src="/after.png">'), 'past the ratio, unrewritten');
    // Words that compress about as well as real pages do (4–6×): rewritten to the end.
    let words = '';
    for (let i = 0; words.length < 3e6; i += 1) words += `w${(i * 7919) % 100_003} `;
    const page = Buffer.from(`<html><body><img src="/first.png"><p>${words}</p><img src="/after.png"></body></html>`);
    serve('gzip', zlib.gzipSync(page));
    const real = zlib.gunzipSync((await get('/real.html', 'gzip')).body).toString('latin1');
    assert.ok(real.endsWith('<img src="/after.png?m=ic,webp,avif,zorro"></body></html>'));
  });

  it('br is decoded and re-encoded as before', async () => {
    serve('br', zlib.brotliCompressSync(PAGE));
    const res = await get('/br.html', 'br');
    assert.equal(res.headers['content-encoding'], 'br');
    assert.equal(zlib.brotliDecompressSync(res.body).toString(), REWRITTEN);
  });

  for (const [coding, body] of [
    ['gzip', Buffer.from('these bytes are not gzip at all, whatever the header says')],
    ['deflate', Buffer.alloc(64, 0xff)],
    ['br', Buffer.alloc(64, 0xff)],
  ] as const) {
    it(`an undecodable ${coding} page: a 502 with a short text, a warning, a count, and the proxy carries on`, async () => {
      const before = await undecodableCount(proxy);
      serve(coding, body);
      const res = await get(`/corrupt-${coding}.html`, coding);
      assert.equal(res.status, 502);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      assert.match(res.body.toString(), /^502 Bad Gateway: the origin sent a page whose .* could not be decoded\n$/);
      const line = proxy.logs.findLast((l) => l.msg === 'request' && l.path === `/corrupt-${coding}.html`);
      assert.equal(line?.level, 'warn');
      assert.equal(line?.status, 502);
      assert.match(String(line?.error), /could not be decoded/);
      assert.equal(await undecodableCount(proxy), before + 1);
      serve(coding, coding === 'gzip' ? zlib.gzipSync(PAGE) : coding === 'br' ? zlib.brotliCompressSync(PAGE) : zlib.deflateSync(PAGE));
      const next = await get('/fine.html', coding);
      assert.equal(next.status, 200);
    });
  }

  it('a deflate page that breaks after the client got its head: the response is cut, not ended', async () => {
    // The head of the page, flushed so that it decodes on its own; the break waits until the client has it.
    const deflate = zlib.createDeflateRaw();
    const head: Buffer[] = [];
    deflate.on('data', (chunk: Buffer) => head.push(chunk));
    deflate.write(PAGE);
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    let breakNow!: () => void;
    const clientHasHead = new Promise<void>((resolve) => (breakNow = resolve));
    origin.handle((_req, res: ServerResponse) => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Encoding': 'deflate' });
      res.write(Buffer.concat(head));
      // 0xff: a final block of the reserved type 11, "invalid block type".
      void clientHasHead.then(() => res.end(Buffer.alloc(16, 0xff)));
    });
    const req = httpRequest(new URL('/breaks.html', proxy.url), { agent: false, headers: { 'User-Agent': CHROME_UA, 'Accept-Encoding': 'deflate' } });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    assert.equal(res.statusCode, 200);
    const received: Buffer[] = [];
    res.on('error', () => undefined); // "aborted": what this test expects
    res.on('data', (chunk: Buffer) => {
      received.push(chunk);
      breakNow();
    });
    await new Promise((resolve) => res.once('close', resolve)); // not once(): it rejects on the "aborted" error
    assert.equal(res.complete, false, 'the client can tell the page is incomplete');
    const decoded = zlib.inflateSync(Buffer.concat(received), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
    assert.ok(REWRITTEN.startsWith(decoded) && decoded.length > 0, 'what arrived is the head of the rewritten page');
    const line = proxy.logs.findLast((l) => l.msg === 'request' && l.path === '/breaks.html');
    assert.equal(line?.aborted, true);
    assert.match(String(line?.error), /could not be decoded/);
    serve('deflate', zlib.deflateSync(PAGE));
    assert.equal((await get('/after-break.html', 'deflate')).status, 200);
  });

  it('max-size counts decoded bytes: past it the page is sent unrewritten, still gzip-encoded', async () => {
    // 40 KB of HTML in a gzip body of a few hundred bytes: under 20 KB compressed, over 20 KB decoded. (The
    // inflater hands out 16 KiB at a time: the first piece is within the limit, the next one past it.)
    const small = await startProxy({ origin: origin.url, elements: `${COMPRESSION}<rewrite max-size="20KB"/>` });
    try {
      const page = Buffer.from('<img src="/first.png">' + '<p>filler</p>'.repeat(3000) + '<img src="/late.png">');
      const gz = zlib.gzipSync(page);
      assert.ok(gz.length < 20_000);
      serve('gzip', gz);
      const res = await fetchRaw(new URL('/max.html', small.url), { headers: { 'User-Agent': CHROME_UA, 'Accept-Encoding': 'gzip' } });
      assert.equal(res.headers['content-encoding'], 'gzip');
      const html = zlib.gunzipSync(res.body).toString();
      assert.ok(html.startsWith('<img src="/first.png?m=ic,webp,avif,zorro">'), 'rewritten within the limit');
      assert.ok(html.endsWith('<img src="/late.png">'), 'past the limit as it is');
      assert.equal(withoutMarks(html), page.toString());
    } finally {
      await small.stop();
    }
  });
});

/** Peak resident set size of a process so far (Linux). */
function peakRss(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
}

describe('a small gzip body that expands three hundredfold', () => {
  const UNIT = '<img src="/i.png"><p>a paragraph</p>\n';
  const HTML_BYTES = 30 * 2 ** 20;
  const page = UNIT.repeat(Math.ceil(HTML_BYTES / UNIT.length));
  const gz = zlib.gzipSync(page, { level: 9 });
  let origin: TestOrigin;
  let proxy: SpawnedProxy;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Encoding': 'gzip', 'Content-Length': String(gz.length) });
      res.end(gz);
    });
    proxy = await spawnProxy(writeTempConfig(testConfigXml({ origin: origin.url, elements: `${COMPRESSION}<rewrite max-size="1MB"/>` })));
  });
  after(async () => {
    proxy.child.kill('SIGTERM');
    await proxy.exited;
    await origin.close();
  });

  const download = async () => {
    const started = process.hrtime.bigint();
    const res = await fetchRaw(new URL('/bomb.html', proxy.url), { headers: { 'User-Agent': CHROME_UA, 'Accept-Encoding': 'gzip' } });
    return { res, ms: Number(process.hrtime.bigint() - started) / 1e6 };
  };

  it('streams through: rewritten up to max-size (decoded bytes), the rest as it is, in bounded memory', async (t) => {
    assert.ok(gz.length < 128 * 1024, `${gz.length} bytes of gzip`);
    await download(); // the first large transfer of a fresh process grows its heap once (see streaming-memory)
    const baseline = peakRss(proxy.child.pid!);
    const { res, ms } = await download();
    const growth = peakRss(proxy.child.pid!) - baseline;
    t.diagnostic(`${gz.length} B of gzip → ${page.length} B of HTML in ${Math.round(ms)} ms; peak RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    const html = zlib.gunzipSync(res.body).toString();
    assert.ok(html.startsWith('<img src="/i.png?m=ic,webp,avif,zorro">'), 'the head is rewritten');
    assert.ok(html.endsWith(UNIT), 'the tail past max-size is as it was');
    assert.equal(withoutMarks(html).length, page.length);
    assert.ok(withoutMarks(html) === page, 'nothing else changed');
    // Held whole, the page alone would be 30 MiB (and more as strings); streamed, the growth is the pipes' buffers.
    assert.ok(growth < 20 * 2 ** 20, `peak RSS grew by ${growth} bytes`);
  });
});

async function undecodableCount(proxy: TestProxy): Promise<number> {
  const text = await proxy.running.metrics.registry.metrics();
  return metricSamples(text, 'slimproxy_origin_failures_total').find((s) => s.labels.reason === 'content-coding')?.value ?? 0;
}
