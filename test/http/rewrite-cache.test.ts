import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { CHROME_UA, IE11_UA } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

describe('rewritten documents are kept and revalidated', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let version = 1;
  let extraHeaders: Record<string, string> = {};
  const page = () => `<html><body><img src="/v${version}.png"></body></html>`;

  before(async () => {
    origin = await startOrigin((req, res) => {
      const etag = `"v${version}"`;
      // If-None-Match uses the weak comparison (RFC 9110 §13.1.2), as real servers do.
      if (String(req.headers['if-none-match'] ?? '').replace(/^W\//, '') === etag) {
        res.writeHead(304, { ETag: etag, 'Cache-Control': 'max-age=5', ...extraHeaders });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html', ETag: etag, 'Cache-Control': 'max-age=0', ...extraHeaders });
      res.end(page());
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  beforeEach(() => {
    version += 1;
    extraHeaders = {};
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetchRaw(new URL(path, proxy.url), { headers: { 'User-Agent': CHROME_UA, ...headers } });

  it('a repeat view is a 304 from the origin and the kept document for the client', async () => {
    const first = await get('/page.html');
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined);
    const second = await get('/page.html');
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], `"v${version}"`, 'revalidated with the origin');
    assert.equal(second.status, 200);
    assert.deepEqual(second.body, first.body);
    assert.match(second.body.toString(), new RegExp(`/v${version}\\.png\\?m=ic,webp,avif,zorro`));
    assert.equal(second.headers['content-length'], String(first.body.length));
    assert.equal(second.headers['cache-control'], 'max-age=5', 'headers updated from the 304');
    assert.equal(second.headers.etag, `W/"v${version}"`);
    assert.match(String(second.headers.vary), /User-Agent/);
  });

  it("a 304 that sets a cookie ends the kept page: its cookie goes to that visitor only, never to the next", async () => {
    await get('/cookie-on-304.html');
    extraHeaders = { 'Set-Cookie': 'SID=secret-of-visitor-b; HttpOnly' };
    const b = await get('/cookie-on-304.html');
    assert.equal(b.status, 200);
    assert.equal(b.headers['set-cookie']?.[0], 'SID=secret-of-visitor-b; HttpOnly', 'the visitor whose 304 set it gets it');
    extraHeaders = {};
    const c = await get('/cookie-on-304.html');
    const d = await get('/cookie-on-304.html');
    assert.equal(c.headers['set-cookie'], undefined);
    assert.equal(d.headers['set-cookie'], undefined);
    assert.match(d.body.toString(), new RegExp(`/v${version}\\.png\\?m=`));
  });

  it('a 304 that makes the page private ends the kept page', async () => {
    await get('/private-on-304.html');
    extraHeaders = { 'Cache-Control': 'private, max-age=60' };
    await get('/private-on-304.html');
    extraHeaders = {};
    const next = await get('/private-on-304.html');
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined, 'nothing kept to revalidate');
    assert.notEqual(next.headers['cache-control'], 'private, max-age=60');
  });

  it('a 304 that says no-transform ends the kept page: the next visitor gets the page as the origin sends it', async () => {
    await get('/no-transform-on-304.html');
    extraHeaders = { 'Cache-Control': 'no-transform' };
    await get('/no-transform-on-304.html');
    const next = await get('/no-transform-on-304.html');
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined, 'nothing kept to revalidate');
    assert.equal(next.body.toString(), page(), 'not rewritten');
  });

  it('a changed page is rewritten anew', async () => {
    await get('/changing.html');
    version += 1;
    const changed = await get('/changing.html');
    assert.match(changed.body.toString(), new RegExp(`/v${version}\\.png\\?m=`));
  });

  it('another mark is another entry', async () => {
    await get('/marks.html');
    const ie = await get('/marks.html', { 'User-Agent': IE11_UA });
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined, 'nothing kept yet for this mark');
    assert.match(ie.body.toString(), /m=ic,zorro/);
  });

  it("the client's own conditional request goes through and its 304 comes back", async () => {
    await get('/own.html');
    const res = await get('/own.html', { 'If-None-Match': `"v${version}"` });
    assert.equal(res.status, 304);
    assert.equal(res.body.length, 0);
  });

  it('a 304 to the weak tag we handed out keeps it weak', async () => {
    const first = await get('/weak.html');
    const res = await get('/weak.html', { 'If-None-Match': String(first.headers.etag) });
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], `W/"v${version}"`, "the client's tag reached the origin");
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, `W/"v${version}"`);
  });

  it('requests with cookies and responses with Set-Cookie are never kept', async () => {
    await get('/cookie.html', { Cookie: 'session=1' });
    await get('/cookie.html', { Cookie: 'session=1' });
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined);
    extraHeaders = { 'Set-Cookie': 'a=1' };
    await get('/set-cookie.html');
    await get('/set-cookie.html');
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined);
  });

  it('is off with cache-size="0"', async () => {
    const uncached = await startProxy({ origin: origin.url, elements: '<image-compression/><rewrite cache-size="0"/>' });
    try {
      await fetchRaw(new URL('/nocache.html', uncached.url), { headers: { 'User-Agent': CHROME_UA } });
      await fetchRaw(new URL('/nocache.html', uncached.url), { headers: { 'User-Agent': CHROME_UA } });
      assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined);
    } finally {
      await uncached.stop();
    }
  });
});

describe('a 304 that names another ETag confirms nothing (RFC 9111 §4.3.4; hostile review)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let version = 1;
  before(async () => {
    // A sloppy origin: any conditional request gets a 304 with the current tag, whether it matches or not.
    origin = await startOrigin((req, res) => {
      if (req.headers['if-none-match'] !== undefined) {
        res.writeHead(304, { ETag: `"v${version}"` });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html', ETag: `"v${version}"` });
      res.end(`<p>version ${version}<img src="/a.png">`);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('the kept page is never labelled with the new tag, and the next view fetches the page whole', async () => {
    const get = () => fetchRaw(new URL('/sloppy.html', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    await get();
    version = 2;
    const once = await get();
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], '"v1"');
    assert.match(once.body.toString(), /version 1/);
    assert.equal(once.headers.etag, 'W/"v1"', 'the kept bytes keep their own tag: never the tag of bytes they are not');
    const next = await get();
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined, 'the entry is gone');
    assert.match(next.body.toString(), /version 2/);
  });
});
