import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { CHROME_UA } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

describe('a document is one by its response, whatever its name (issue 18: nothing prepared for a script by its name)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const page = '<!doctype html><p><img src="/a.png" alt="">';
  before(async () => {
    origin = await startOrigin((req, res) => {
      if (req.url === '/widget.js') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', ETag: '"w"' }).end(page);
      else res.writeHead(200, { 'Content-Type': 'application/javascript', ETag: '"s"' }).end('var a = "<img src=/a.png>";');
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('an HTML page under a .js name is rewritten (and not kept: revalidated by its own requests)', async () => {
    for (let i = 0; i < 2; i += 1) {
      const res = await fetchRaw(new URL('/widget.js', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
      assert.equal(res.status, 200);
      assert.match(res.body.toString(), /<img src="\/a\.png\?m=[^"]+"/);
    }
    assert.ok(origin.requests.filter((r) => r.url === '/widget.js').every((r) => r.headers['if-none-match'] === undefined), 'no conditional request of ours for it');
  });

  it('a script passes byte for byte', async () => {
    const res = await fetchRaw(new URL('/app.js', proxy.url), { headers: { 'User-Agent': CHROME_UA } });
    assert.equal(res.body.toString(), 'var a = "<img src=/a.png>";');
    assert.equal(res.headers.etag, '"s"');
  });
});
