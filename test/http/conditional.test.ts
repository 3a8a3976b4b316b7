import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const VALIDATORS = {
  ETag: '"v42"',
  'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
  'Cache-Control': 'public, max-age=600, must-revalidate',
  Expires: 'Thu, 22 Oct 2015 07:28:00 GMT',
  Pragma: 'cache',
};

describe('conditional requests reach the origin and its 304 comes back', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((req, res) => {
      const matches = req.headers['if-none-match'] === VALIDATORS.ETag || req.headers['if-modified-since'] === VALIDATORS['Last-Modified'];
      res.writeHead(matches ? 304 : 200, VALIDATORS);
      res.end(matches ? undefined : 'the image bytes');
    });
    proxy = await startProxy({ origin: origin.url });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  for (const [header, value] of [
    ['If-None-Match', VALIDATORS.ETag],
    ['If-Modified-Since', VALIDATORS['Last-Modified']],
  ] as const) {
    it(header, async () => {
      const res = await fetchRaw(new URL('/img/photo.jpg', proxy.url), { headers: { [header]: value } });
      assert.equal(origin.requests.at(-1)?.headers[header.toLowerCase()], value, 'the validator reached the origin');
      assert.equal(res.status, 304);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers.etag, VALIDATORS.ETag);
      assert.equal(res.headers['last-modified'], VALIDATORS['Last-Modified']);
      assert.equal(res.headers['cache-control'], VALIDATORS['Cache-Control']);
      assert.equal(res.headers.expires, VALIDATORS.Expires);
      assert.equal(res.headers.pragma, VALIDATORS.Pragma);
    });
  }

  it('a stale validator gets the full response', async () => {
    const res = await fetchRaw(new URL('/img/photo.jpg', proxy.url), { headers: { 'If-None-Match': '"old"' } });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'the image bytes');
  });
});

describe('the embedded demo origin behaves like a real web server', () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startProxy({ origin: 'embedded' });
  });
  after(() => proxy.stop());

  it('answers conditional requests with 304 through the proxy', async () => {
    const first = await fetchRaw(new URL('/', proxy.url));
    assert.equal(first.status, 200);
    assert.match(String(first.headers['content-type']), /^text\/html/);
    const etag = first.headers.etag;
    const lastModified = first.headers['last-modified'];
    assert.ok(etag && lastModified, 'validators present');
    const byEtag = await fetchRaw(new URL('/', proxy.url), { headers: { 'If-None-Match': etag } });
    assert.equal(byEtag.status, 304);
    assert.equal(byEtag.headers.etag, etag);
    const byDate = await fetchRaw(new URL('/', proxy.url), { headers: { 'If-Modified-Since': lastModified } });
    assert.equal(byDate.status, 304);
  });

  it('answers 404 for what it does not have, and refuses to leave its folder', async () => {
    assert.equal((await fetchRaw(new URL('/no-such-page.html', proxy.url))).status, 404);
    const escape = await fetchRaw(new URL('/..%2f..%2fpackage.json', proxy.url));
    assert.ok(escape.status === 403 || escape.status === 404, `status ${escape.status}`);
    assert.doesNotMatch(escape.body.toString(), /slimproxy/);
  });
});
