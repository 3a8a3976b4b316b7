import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { CHROME_UA } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/earth.jpg', PROJECT_ROOT));
const LAST_MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';
const CHROME_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';

describe("the store keeps only what the origin gives everyone: a visitor's cookies never make an image shared (hostile review)", () => {
  let origin: TestOrigin;
  let proxy: TestProxy;

  before(async () => {
    origin = await startOrigin((req, res) => {
      const loggedIn = String(req.headers.cookie ?? '').includes('session=ok');
      // An origin that protects images by the session cookie and sends them with validators only (no `private`).
      if (req.url?.startsWith('/private/') || req.url?.startsWith('/login-page/')) {
        if (!loggedIn) {
          if (req.url.startsWith('/login-page/')) {
            res.writeHead(200, { 'Content-Type': 'text/html' });
            res.end('<form>please log in</form>');
            return;
          }
          res.writeHead(403, { 'Content-Type': 'text/plain' });
          res.end('login required');
          return;
        }
      }
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Last-Modified': LAST_MODIFIED });
      res.end(photo);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  const get = (path: string, cookie?: string) =>
    fetchRaw(new URL(path, proxy.url), { headers: { 'user-agent': CHROME_UA, accept: CHROME_ACCEPT, ...(cookie ? { cookie } : {}) } });

  for (const [name, path] of [
    ['marked', '/private/scan.jpg?m=ic,webp,avif'],
    ['in place', '/private/scan-in-place.jpg'],
    ['a 200 login page for strangers, marked', '/login-page/scan.jpg?m=ic'],
  ] as const) {
    it(`${name}: the logged-in visitor gets the image, a stranger never does`, async () => {
      const own = await get(path, 'session=ok; _ga=1');
      assert.equal(own.status, 200);
      assert.ok(own.body.equals(photo), "the visitor's own image, as the origin sent it");
      assert.match(String(own.headers['x-slimproxy-skip']), /cookies/);
      assert.equal(origin.requests.at(-1)?.headers.cookie, 'session=ok; _ga=1', 'passed through with the cookies');
      for (let i = 0; i < 2; i += 1) {
        const stranger = await get(path);
        assert.ok(!stranger.body.equals(photo) && !/^image\//.test(String(stranger.headers['content-type'])), `the stranger is not given the image (${stranger.status})`);
      }
    });
  }

  it('a repeat with cookies goes to the origin once, with them: no cookie-less request first each time', async () => {
    await get('/private/repeat.jpg?m=ic', 'session=ok');
    const before = origin.requests.length;
    const again = await get('/private/repeat.jpg?m=ic', 'session=ok');
    assert.ok(again.body.equals(photo));
    assert.deepEqual(origin.requests.slice(before).map((r) => r.headers.cookie), ['session=ok']);
    const stranger = await get('/private/repeat.jpg?m=ic');
    assert.equal(stranger.status, 403, 'a stranger is still asked for as anyone');
  });

  it("a public image is fetched without the visitor's cookies and stored for everyone", async () => {
    const before = origin.requests.length;
    const first = await get('/public/earth.jpg?m=ic', 'session=ok; _ga=1');
    assert.equal(first.status, 200);
    const fetches = origin.requests.slice(before);
    assert.equal(fetches.length, 1);
    assert.equal(fetches[0]!.headers.cookie, undefined, "the store's fetch carries no cookie");
    const stranger = await get('/public/earth.jpg?m=ic');
    assert.equal(stranger.status, 200);
    assert.equal(origin.requests.length, before + 1, 'served from the store');
    assert.equal(stranger.headers['x-slimproxy-skip'], undefined);
  });
});
