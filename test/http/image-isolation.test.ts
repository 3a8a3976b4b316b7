import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { NEUTRAL_ACCEPT } from '../../src/http/image/originals.js';
import { fetchRaw, sendRaw } from '../support/client.js';
import { cutout, untilFinal } from '../support/images.js';
import { metricSum } from '../support/metrics-text.js';
import { startNginx, type TestNginx } from '../support/nginx.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const site = (path: string) => readFileSync(new URL(`fixtures/site/img/${path}`, PROJECT_ROOT));
const photoA = site('photos/night-lights.jpg');
const photoB = site('earth.jpg');
const secret = site('logo.png');

const CHROME_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
const isJpeg = (bytes: Buffer) => bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
const isWebp = (bytes: Buffer) => bytes.subarray(8, 12).toString('latin1') === 'WEBP';
const isAvif = (bytes: Buffer) => bytes.subarray(4, 12).toString('latin1').startsWith('ftyp');

/** The status code and whether the secret's bytes are anywhere in a raw response. */
function reading(raw: string): { status: number; leaked: boolean } {
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0), leaked: raw.includes(secret.toString('latin1')) };
}

describe('one gate for every image route: no request reaches another virtual host (issue 15, acceptance 1)', () => {
  let nginx: TestNginx;
  let proxy: TestProxy;
  let clientHost: TestProxy;
  before(async () => {
    // The site is nginx's default server; internal.example is another server on the same address.
    nginx = await startNginx([
      { name: 'site.example', files: { '/logo.jpg': photoA } },
      { name: 'internal.example', files: { '/secret.png': secret, '/logo.jpg': photoB } },
    ]);
    const elements = '<image-compression preset="balanced"/><image-api enabled="true"/>';
    proxy = await startProxy({ origin: nginx.url, elements });
    clientHost = await startProxy({ origin: nginx.url, originAttributes: 'host="client"', elements });
  });
  after(async () => {
    await proxy.stop(5000);
    await clientHost.stop(5000);
    await nginx.stop();
  });

  const tricks: [string, string][] = [
    ['absolute form, marked', 'GET http://internal.example/secret.png?m=ic HTTP/1.1\r\nHost: internal.example\r\n'],
    ['absolute form, our Host', 'GET http://internal.example/secret.png?m=ic HTTP/1.1\r\nHost: site.example\r\n'],
    ['absolute form with a user part', 'GET http://site.example@internal.example/secret.png?m=ic HTTP/1.1\r\nHost: site.example\r\n'],
    ['absolute form, unmarked (in place)', 'GET http://internal.example/secret.png HTTP/1.1\r\nHost: internal.example\r\nAccept: image/webp,*/*\r\n'],
    ['absolute form, image options', 'GET http://internal.example/secret.png?format=webp HTTP/1.1\r\nHost: internal.example\r\n'],
    ['forged Host, marked', 'GET /secret.png?m=ic HTTP/1.1\r\nHost: internal.example\r\n'],
    ['forged Host, unmarked (in place)', 'GET /secret.png HTTP/1.1\r\nHost: internal.example\r\nAccept: image/webp,*/*\r\n'],
    ['forged Host, image options', 'GET /secret.png?width=10 HTTP/1.1\r\nHost: internal.example\r\n'],
    ['forged X-Forwarded-Host', 'GET /secret.png?m=ic HTTP/1.1\r\nHost: site.example\r\nX-Forwarded-Host: internal.example\r\n'],
    ['//host/ path', 'GET //internal.example/secret.png?m=ic HTTP/1.1\r\nHost: site.example\r\n'],
    ['//host/ path in absolute form', 'GET http://internal.example//internal.example/secret.png?m=ic HTTP/1.1\r\nHost: site.example\r\n'],
    ['encoded slashes', 'GET /%2F%2Finternal.example/secret.png?m=ic HTTP/1.1\r\nHost: site.example\r\n'],
    ['scheme with encoded slashes', 'GET http:%2F%2Finternal.example/secret.png?m=ic HTTP/1.1\r\nHost: site.example\r\n'],
    ['dot segments', 'GET /../internal.example/secret.png?m=ic HTTP/1.1\r\nHost: site.example\r\n'],
  ];
  for (const [name, head] of tricks) {
    it(`${name}: not the other host's file`, async () => {
      const raw = await sendRaw(proxy.port, `${head}Connection: close\r\n\r\n`);
      const { status, leaked } = reading(raw);
      assert.ok(!leaked, `the secret came back (status ${status})`);
      assert.ok(status === 404 || status === 400, `status ${status}: ${raw.slice(0, 200)}`);
    });
  }

  it('the same path names the site\'s image whatever host the request names', async () => {
    for (const head of ['GET http://internal.example/logo.jpg?m=ic HTTP/1.1\r\nHost: internal.example\r\n', 'GET /logo.jpg?m=ic HTTP/1.1\r\nHost: internal.example\r\n']) {
      const raw = await sendRaw(proxy.port, `${head}Connection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 200/);
      assert.match(raw, new RegExp(`original=${photoA.length};`), 'the site\'s own logo');
    }
  });

  it('with host="client", each host gets its own image for the same path, kept apart in the store', async () => {
    const get = (host: string) => fetchRaw(new URL('/logo.jpg?m=ic', clientHost.url), { headers: { Host: host } });
    for (let round = 0; round < 3; round += 1) {
      const [a, b] = [await get('site.example'), await get('internal.example')];
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.match(String(a.headers['x-slimproxy-image']), new RegExp(`original=${photoA.length};`), `round ${round}: site.example`);
      assert.match(String(b.headers['x-slimproxy-image']), new RegExp(`original=${photoB.length};`), `round ${round}: internal.example`);
      await clientHost.running.experimentsIdle();
    }
    // A Host that cannot name a server is not used to key anything: the request is the origin's to answer.
    const odd = await sendRaw(clientHost.port, 'GET /logo.jpg?m=ic HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n');
    assert.doesNotMatch(odd, /X-Slimproxy-Image/i);
  });
});

describe('originals are fetched neutrally, and a mark is a promise (issue 15, acceptance 2)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let webp: Buffer;
  before(async () => {
    webp = await sharp(photoA).webp({ quality: 70 }).toBuffer();
    // Negotiates by Accept, with `Vary: Accept`; no lifetime, so every request of the proxy revalidates.
    origin = await startOrigin((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/photo.jpg') {
        const wantsWebp = String(req.headers.accept ?? '').includes('image/webp');
        const etag = wantsWebp ? '"w"' : '"j"';
        const headers = { ETag: etag, Vary: 'Accept', 'Cache-Control': 'no-cache', 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT' };
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, headers).end();
          return;
        }
        res.writeHead(200, { ...headers, 'Content-Type': wantsWebp ? 'image/webp' : 'image/jpeg' });
        res.end(wantsWebp ? webp : photoA);
      } else if (path === '/only.jpg') {
        // Only WebP bytes, whatever is asked (and a Content-Type that says JPEG).
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
        res.end(webp);
      } else if (path === '/by-cookie.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', Vary: 'Cookie', 'Cache-Control': 'max-age=600' });
        res.end(photoA);
      } else {
        res.writeHead(404).end();
      }
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression preset="balanced"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetchRaw(new URL(path, proxy.url), { headers });

  it('Chrome first, then an old browser\'s mark, then an unmarked JPEG-only request: none gets WebP or AVIF', async () => {
    const chrome = await get('/photo.jpg?m=ic,webp,avif', { Accept: CHROME_ACCEPT });
    assert.equal(chrome.status, 200);
    assert.ok(isJpeg(chrome.body), 'the original the proxy keeps is the JPEG');
    const old = await get('/photo.jpg?m=ic', { Accept: '*/*' });
    assert.ok(isJpeg(old.body));
    assert.equal(old.headers['content-type'], 'image/jpeg');
    const unmarked = await get('/photo.jpg', { Accept: 'image/jpeg' });
    assert.ok(isJpeg(unmarked.body));
    for (const request of origin.requests) assert.equal(request.headers.accept, NEUTRAL_ACCEPT, 'the origin never sees a visitor\'s Accept');
  });

  it('variants survive revalidations (the original does not flip between formats)', async () => {
    const last = await untilFinal(proxy, '/photo.jpg?m=ic,webp,avif', { Accept: CHROME_ACCEPT });
    assert.match(String(last.headers['cache-control']), /^public, no-transform/);
    assert.ok(isWebp(last.body) || isAvif(last.body), 'the final variant for Chrome is WebP or AVIF');
    const before304 = origin.requests.length;
    const again = await get('/photo.jpg?m=ic,webp,avif', { Accept: CHROME_ACCEPT });
    assert.deepEqual(again.body, last.body, 'still the variant');
    const revalidation = origin.requests.slice(before304);
    assert.equal(revalidation.length, 1);
    assert.equal(revalidation[0]!.headers['if-none-match'], '"j"', 'revalidated with the JPEG\'s validator, answered 304');
  });

  it('an origin that has only WebP bytes: a mark without WebP still gets a format it decodes', async () => {
    const old = await get('/only.jpg?m=ic');
    assert.equal(old.status, 200);
    assert.ok(isJpeg(old.body), `not a JPEG: ${old.body.subarray(0, 12).toString('latin1')}`);
    const chrome = await get('/only.jpg?m=ic,webp');
    assert.ok(isWebp(chrome.body), 'a WebP client gets the WebP');
  });

  it('X-Forwarded-For: the client\'s address is appended to what it sent, as on the proxy path', async () => {
    const seen = origin.requests.length;
    await get('/by-cookie.jpg?m=ic', { 'X-Forwarded-For': '203.0.113.9' });
    const fetched = origin.requests.slice(seen).find((r) => r.url.startsWith('/by-cookie.jpg'));
    assert.equal(fetched?.headers['x-forwarded-for'], '203.0.113.9,127.0.0.1');
    assert.equal(fetched?.headers['x-forwarded-proto'], 'http');
  });

  it('a response that varies by anything but Accept passes through, not stored', async () => {
    const first = await get('/by-cookie.jpg?m=ic');
    assert.equal(first.headers.vary, 'Cookie');
    assert.equal(first.headers['x-slimproxy-image'], undefined);
    const count = origin.requests.filter((r) => r.url.startsWith('/by-cookie.jpg')).length;
    await get('/by-cookie.jpg?m=ic');
    assert.equal(origin.requests.filter((r) => r.url.startsWith('/by-cookie.jpg')).length, count + 1, 'asked again: nothing was kept');
  });
});

describe('conditional requests and lifetimes of images (issue 15, acceptance 3 and 7)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const lastModified = 'Wed, 21 Oct 2015 07:28:00 GMT';
  const svg = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>';
  before(async () => {
    origin = await startOrigin((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/photo.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: '"p"', 'Last-Modified': lastModified, 'Cache-Control': 'max-age=600, must-revalidate, stale-if-error=60', Expires: 'Thu, 01 Jan 2037 00:00:00 GMT' });
        res.end(photoA);
      } else if (path === '/icon.svg') {
        res.writeHead(200, { 'Content-Type': 'image/svg+xml', ETag: '"s"', 'Last-Modified': lastModified, 'Cache-Control': 'max-age=600' });
        res.end(svg);
      } else {
        res.writeHead(404).end();
      }
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression preset="balanced" interim-max-age="30"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetchRaw(new URL(path, proxy.url), { headers });

  it('before final: an explicit short lifetime, never a heuristic one; final: the origin\'s lifetime and directives', async () => {
    const first = await get('/photo.jpg?m=ic');
    assert.equal(first.headers['cache-control'], 'private, no-transform, max-age=30');
    assert.equal(first.headers.expires, undefined);
    await proxy.running.experimentsIdle();
    const last = await untilFinal(proxy, '/photo.jpg?m=ic');
    assert.equal(last.headers['cache-control'], 'public, no-transform, max-age=600, must-revalidate, stale-if-error=60');
    assert.equal(last.headers.expires, 'Thu, 01 Jan 2037 00:00:00 GMT');
  });

  it('If-Modified-Since is answered for variants, after If-None-Match (RFC 9110 §13.2.2)', async () => {
    const final = await get('/photo.jpg?m=ic');
    const modified = String(final.headers['last-modified']);
    assert.ok(Date.parse(modified) >= Date.parse(lastModified), 'a variant is as new as when it was made');
    assert.equal((await get('/photo.jpg?m=ic', { 'If-Modified-Since': modified })).status, 304);
    assert.equal((await get('/photo.jpg?m=ic', { 'If-Modified-Since': lastModified })).status, Date.parse(modified) > Date.parse(lastModified) ? 200 : 304, 'a date before the variant was made: the variant');
    assert.equal((await get('/photo.jpg?m=ic', { 'If-None-Match': '"other"', 'If-Modified-Since': modified })).status, 200, 'If-None-Match decides when present');
    const notModified = await get('/photo.jpg?m=ic', { 'If-None-Match': String(final.headers.etag) });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['cache-control'], final.headers['cache-control']);
    assert.equal(notModified.headers.etag, final.headers.etag);
  });

  it('a skipped original (an SVG) answers 304 to either validator', async () => {
    const first = await get('/icon.svg?m=ic');
    assert.equal(first.status, 200);
    assert.ok(first.headers['x-slimproxy-skip']);
    assert.equal((await get('/icon.svg?m=ic', { 'If-None-Match': '"s"' })).status, 304);
    assert.equal((await get('/icon.svg?m=ic', { 'If-Modified-Since': lastModified })).status, 304);
    assert.equal((await get('/icon.svg?m=ic', { 'If-Modified-Since': 'Tue, 20 Oct 2015 07:28:00 GMT' })).status, 200);
  });
});

describe('ZorroSVG: a representation per content coding (issue 15, acceptance 7)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    // A photograph with an alpha mask: lossless PNG is large, JPEG plus a mask (ZorroSVG) small. (Not the night
    // photograph: mostly black, it stays within d at 16 colours, and palette PNG wins.)
    const png = await cutout(photoB);
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/png', ETag: '"t"', 'Cache-Control': 'max-age=600' });
      res.end(png);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression preset="balanced"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  it('gzip and identity each have their own ETag, Vary: Accept-Encoding, and never more bytes than the original', async () => {
    const get = (headers: Record<string, string>) => fetchRaw(new URL('/cutout.png?m=ic,zorro', proxy.url), { headers });
    const zipped = await untilFinal(proxy, '/cutout.png?m=ic,zorro', { 'Accept-Encoding': 'gzip' });
    assert.match(String(zipped.headers['x-slimproxy-image']), /experiment=zorro/);
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.equal(zipped.headers.vary, 'Accept-Encoding');
    const plain = await get({ 'Accept-Encoding': 'identity' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.notEqual(plain.headers.etag, zipped.headers.etag, 'one tag per representation');
    assert.deepEqual(gunzipSync(zipped.body), plain.body);
    const original = Number(/original=(\d+)/.exec(String(plain.headers['x-slimproxy-image']))?.[1]);
    assert.ok(plain.body.length < original, `${plain.body.length} sent unzipped, original ${original}`);
    // Each tag validates its own representation only.
    assert.equal((await get({ 'Accept-Encoding': 'identity', 'If-None-Match': String(plain.headers.etag) })).status, 304);
    assert.equal((await get({ 'Accept-Encoding': 'identity', 'If-None-Match': String(zipped.headers.etag) })).status, 200);
  });
});

describe('found by the hostile review of issue 15', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let revalidations = 0;
  /** Responses of /slow.jpg, held until the test lets them go. */
  const held: (() => void)[] = [];
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><script>alert(1)</script></svg>';
  before(async () => {
    origin = await startOrigin((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/photo.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600', 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT', 'Access-Control-Allow-Origin': '*', 'Timing-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin' });
        res.end(photoA);
      } else if (path === '/u/evil.svg') {
        res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'max-age=600', 'Content-Security-Policy': "sandbox; default-src 'none'", 'Content-Disposition': 'attachment; filename="caf\u00e9.svg"', 'X-Content-Type-Options': 'nosniff' });
        res.end(svg);
      } else if (path === '/slow.jpg') {
        held.push(() => {
          res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
          res.end(photoB);
        });
      } else if (path === '/webcam.jpg') {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'no-cache' });
        res.end(photoB);
      } else if (path === '/turns-private.jpg') {
        if (req.headers['if-none-match'] === '"r"') {
          revalidations += 1;
          res.writeHead(304, { ETag: '"r"', 'Cache-Control': 'private, no-store' }).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'image/jpeg', ETag: '"r"', 'Cache-Control': 'no-cache' });
        res.end(photoB);
      } else {
        res.writeHead(404).end();
      }
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression preset="balanced"/><image-api enabled="true"/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetchRaw(new URL(path, proxy.url), { headers });

  it('a client\'s body framing never reaches the image fetch (no request smuggling into the next fetch)', async () => {
    const seen = origin.requests.length;
    const raw = await sendRaw(proxy.port, 'GET /photo.jpg?m=ic HTTP/1.1\r\nHost: site.example\r\nContent-Length: 52\r\n\r\nGET /u/evil.svg HTTP/1.1\r\nHost: x\r\nX-Padding: 12345\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 200/);
    const fetched = origin.requests.slice(seen);
    assert.deepEqual(fetched.map((r) => r.url), ['/photo.jpg'], 'the origin got one request, for the photo');
    assert.equal(fetched[0]!.headers['content-length'], undefined);
    assert.equal(fetched[0]!.headers['transfer-encoding'], undefined);
  });

  it('the origin\'s CORS and security fields go with every version of an image', async () => {
    const evil = await get('/u/evil.svg?m=ic');
    assert.equal(evil.headers['content-security-policy'], "sandbox; default-src 'none'");
    // As the origin sent it, its Latin-1 byte included (hostile review of issue 16: it became a space).
    assert.equal(evil.headers['content-disposition'], 'attachment; filename="caf\u00e9.svg"');
    assert.equal(evil.headers['x-content-type-options'], 'nosniff');
    const photo = await untilFinal(proxy, '/photo.jpg?m=ic,webp');
    assert.doesNotMatch(String(photo.headers['x-slimproxy-image']), /experiment=original/);
    assert.equal(photo.headers['access-control-allow-origin'], '*');
    assert.equal(photo.headers['timing-allow-origin'], '*');
    assert.equal(photo.headers['cross-origin-resource-policy'], 'cross-origin');
    assert.ok(Number(photo.headers.age) >= 0, 'a final response says its age');
  });

  it('concurrent first requests of one image share one fetch of its original', async () => {
    const shared = async () => metricSum((await fetchRaw(new URL('metrics', proxy.running.adminUrl))).body.toString(), 'slimproxy_image_shared_fetches_total');
    const before = await shared();
    const answers = Promise.all(Array.from({ length: 8 }, () => get('/slow.jpg?m=ic')));
    // Until the seven others wait for the first one's fetch (the counter says so), the origin holds its answer.
    // A second fetch reaching the origin ends the wait too (then the assertion below fails at once).
    const fetches = () => origin.requests.filter((r) => r.url.startsWith('/slow.jpg')).length;
    while ((await shared()) < before + 7 && fetches() < 2) await new Promise((resolve) => setImmediate(resolve));
    for (const release of held.splice(0)) release();
    for (const answer of await answers) assert.deepEqual(answer.body, photoB);
    assert.equal(fetches(), 1, 'one fetch for eight requests');
  });

  it('a URL too long for a store key is passed through, not answered 502', async () => {
    const long = `/photo.jpg?token=${'x'.repeat(3000)}&m=ic`;
    const answer = await get(long);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, photoA);
  });

  it('the interim lifetime is never longer than the origin\'s own (no-cache stays no-cache)', async () => {
    assert.equal((await get('/webcam.jpg?m=ic')).headers['cache-control'], 'private, no-transform, no-cache');
  });

  it('a 304 that now says private, no-store ends the keeping: the answer is passed through', async () => {
    await get('/turns-private.jpg?m=ic');
    const after304 = await get('/turns-private.jpg?m=ic');
    assert.equal(revalidations, 1);
    assert.equal(after304.headers['x-slimproxy-image'], undefined, 'not served from the store');
    assert.doesNotMatch(String(after304.headers['cache-control']), /public/);
  });

  it('If-Modified-Since that is no HTTP-date, or in the future, is ignored', async () => {
    const first = await get('/photo.jpg?m=ic');
    assert.ok(first.headers['last-modified'], 'there is a date to compare with');
    assert.equal((await get('/photo.jpg?m=ic', { 'If-Modified-Since': String(first.headers['last-modified']) })).status, 304);
    for (const since of ['2099', 'Fri, 01 Jan 2100 00:00:00 GMT', 'yesterday']) {
      assert.equal((await get('/photo.jpg?m=ic', { 'If-Modified-Since': since })).status, 200, since);
    }
  });

  it('image options on a marked URL stay within the mark', async () => {
    for (const query of ['format=webp', 'format=auto', 'fm=avif']) {
      const answer = await get(`/photo.jpg?${query}&m=ic`, { Accept: CHROME_ACCEPT });
      assert.equal(answer.status, 200);
      assert.ok(isJpeg(answer.body), `${query}: not a JPEG`);
    }
  });
});
