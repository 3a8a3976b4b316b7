import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetchRaw, sendRaw } from '../support/client.js';
import { CHROME_UA } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const LAST_MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';

/** The head of a raw HTTP/1.1 response, lower-cased names. */
function rawHead(raw: string): { status: number; headers: Map<string, string> } {
  const [statusLine = '', ...lines] = raw.split('\r\n\r\n')[0]!.split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(' ')[1]), headers };
}

describe('nothing one client sends decides what another client gets (hostile review, caches)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let privateProxy: TestProxy;

  before(async () => {
    origin = await startOrigin((req, res) => {
      const url = req.url ?? '/';
      if (url.startsWith('/lang')) {
        // A page in the visitor's language, kept apart by Vary as RFC 9110 §12.5.5 has it; both versions have the
        // same Last-Modified (one file, translated), so a conditional request cannot tell them apart.
        const german = String(req.headers['accept-language'] ?? '').startsWith('de');
        if (req.headers['if-modified-since'] === LAST_MODIFIED) {
          res.writeHead(304, { 'Last-Modified': LAST_MODIFIED, Vary: 'Accept-Language' });
          res.end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/html', 'Last-Modified': LAST_MODIFIED, Vary: 'Accept-Language' });
        res.end(german ? '<p>Deutsch<img src="/a.png">' : '<p>English<img src="/a.png">');
        return;
      }
      if (url.startsWith('/links')) {
        // An origin that builds absolute links from X-Forwarded-Host, as frameworks behind proxies do.
        const host = String(req.headers['x-forwarded-host'] ?? req.headers.host);
        if (req.headers['if-modified-since'] === LAST_MODIFIED) {
          res.writeHead(304, { 'Last-Modified': LAST_MODIFIED });
          res.end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/html', 'Last-Modified': LAST_MODIFIED });
        res.end(`<script src="http://${host}/app.js"></script><p>proto ${String(req.headers['x-forwarded-proto'])}`);
        return;
      }
      if (url.startsWith('/about')) {
        if (req.headers['if-modified-since'] === LAST_MODIFIED) {
          res.writeHead(304, { 'Last-Modified': LAST_MODIFIED, ETag: '"about"', Vary: 'Accept-Encoding' });
          res.end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/html', 'Last-Modified': LAST_MODIFIED, ETag: '"about"', Vary: 'Accept-Encoding' });
        res.end('<img src="/a.jpg">');
        return;
      }
      if (url.startsWith('/cdn')) {
        res.writeHead(200, {
          'Content-Type': 'text/html',
          'Cache-Control': 'public, max-age=60',
          'CDN-Cache-Control': 'max-age=86400',
          'Cloudflare-CDN-Cache-Control': 'max-age=86400',
          'Surrogate-Control': 'max-age=86400',
          'X-Accel-Expires': '86400',
        });
        res.end('<img src="/a.jpg">');
        return;
      }
      res.writeHead(404);
      res.end();
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
    privateProxy = await startProxy({ origin: origin.url, elements: '<image-compression/><rewrite shared-caches="private"/>' });
  });
  after(async () => {
    await proxy.stop();
    await privateProxy.stop();
    await origin.close();
  });

  it('a 304 to an extensionless URL, asked with Accept: */*, says Vary: User-Agent and a weak ETag (GET and HEAD)', async () => {
    for (const method of ['GET', 'HEAD']) {
      const raw = await sendRaw(proxy.port, `${method} /about HTTP/1.1\r\nHost: site.example\r\nUser-Agent: ${CHROME_UA}\r\nAccept: */*\r\nIf-Modified-Since: ${LAST_MODIFIED}\r\nConnection: close\r\n\r\n`);
      const head = rawHead(raw);
      assert.equal(head.status, 304, method);
      assert.match(head.headers.get('vary') ?? '', /User-Agent/, `${method}: a shared cache must keep browsers apart`);
      assert.equal(head.headers.get('etag'), 'W/"about"', method);
    }
  });

  it('a field the client names in Connection does not key the kept page (RFC 9111 §4.1)', async () => {
    // The attacker's German request reaches the origin without its Accept-Language: the English page comes back.
    const attack = await sendRaw(proxy.port, `GET /lang HTTP/1.1\r\nHost: site.example\r\nUser-Agent: ${CHROME_UA}\r\nAccept-Language: de\r\nConnection: close, accept-language\r\n\r\n`);
    assert.match(attack, /English/);
    const visitor = await fetchRaw(new URL('/lang', proxy.url), { headers: { 'user-agent': CHROME_UA, 'accept-language': 'de', host: 'site.example' } });
    assert.match(visitor.body.toString(), /Deutsch/, 'a German visitor gets the German page');
  });

  it("a client's X-Forwarded-Host and X-Forwarded-Proto never reach the origin, so no kept page carries them", async () => {
    const attack = await sendRaw(proxy.port, `GET /links HTTP/1.1\r\nHost: site.example\r\nUser-Agent: ${CHROME_UA}\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: host=evil.example\r\nConnection: close\r\n\r\n`);
    assert.doesNotMatch(attack, /evil\.example/);
    const seen = origin.requests.at(-1)!;
    assert.equal(seen.headers['x-forwarded-host'], 'site.example');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers.forwarded, undefined);
    const visitor = await fetchRaw(new URL('/links', proxy.url), { headers: { 'user-agent': CHROME_UA, host: 'site.example' } });
    assert.doesNotMatch(visitor.body.toString(), /evil\.example/);
    assert.match(visitor.body.toString(), /proto http$/);
  });

  it('a request that says no-store has its page neither kept nor answered from what was kept', async () => {
    await fetchRaw(new URL('/about?no-store', proxy.url), { headers: { 'user-agent': CHROME_UA, 'cache-control': 'no-store' } });
    await fetchRaw(new URL('/about?no-store', proxy.url), { headers: { 'user-agent': CHROME_UA } });
    const second = origin.requests.at(-1)!;
    assert.equal(second.headers['if-none-match'] ?? second.headers['if-modified-since'], undefined, 'nothing was kept to revalidate');
  });

  it('shared-caches="private" leaves out the caching fields CDNs obey instead of Cache-Control (RFC 9213)', async () => {
    const page = await fetchRaw(new URL('/cdn', privateProxy.url), { headers: { 'user-agent': CHROME_UA } });
    assert.equal(page.headers['cache-control'], 'private, max-age=60');
    for (const name of ['cdn-cache-control', 'cloudflare-cdn-cache-control', 'surrogate-control', 'x-accel-expires']) assert.equal(page.headers[name], undefined, name);
    const vary = await fetchRaw(new URL('/cdn', proxy.url), { headers: { 'user-agent': CHROME_UA } });
    assert.equal(vary.headers['cdn-cache-control'], 'max-age=86400', 'the default (vary) passes them on');
  });
});

describe('a virtual host is the Host the origin gets, byte for byte (hostile review, <origin host="client">)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;

  before(async () => {
    // nginx picks a server block by the Host it reads: `x@victim.test` is not victim.test's.
    origin = await startOrigin((req, res) => {
      if (req.headers['if-modified-since'] === LAST_MODIFIED) {
        res.writeHead(304, { 'Last-Modified': LAST_MODIFIED });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html', 'Last-Modified': LAST_MODIFIED });
      res.end(req.headers.host === 'victim.test' ? '<p>victim page' : '<p>OTHER VHOST (attacker controlled)');
    });
    proxy = await startProxy({ origin: origin.url, originAttributes: 'host="client"', elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  for (const forged of ['x@victim.test', 'vict%69m.test', 'victim.test#x', 'VICTIM.test']) {
    it(`a page asked for with Host: ${forged} is not kept as victim.test's`, async () => {
      await sendRaw(proxy.port, `GET /home-${encodeURIComponent(forged)} HTTP/1.1\r\nHost: ${forged}\r\nUser-Agent: ${CHROME_UA}\r\nConnection: close\r\n\r\n`);
      const victim = await sendRaw(proxy.port, `GET /home-${encodeURIComponent(forged)} HTTP/1.1\r\nHost: victim.test\r\nUser-Agent: ${CHROME_UA}\r\nConnection: close\r\n\r\n`);
      assert.match(victim, /victim page/);
    });
  }
});
