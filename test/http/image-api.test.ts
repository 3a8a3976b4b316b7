import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { dssim } from '../../src/images/dssim.js';
import { decodeRgba } from '../../src/images/rgba.js';
import { type ClientResponse, fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/flower.jpg', PROJECT_ROOT)); // 640×427
const logo = readFileSync(new URL('fixtures/site/img/logo.png', PROJECT_ROOT)); // 460×110, transparent
const spacer = readFileSync(new URL('fixtures/site/img/bg/starfield.jpg', PROJECT_ROOT));

const CHROME_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';

/** `X-Slimproxy-Image` as a map. */
function described(response: ClientResponse): Record<string, string> {
  return Object.fromEntries(String(response.headers['x-slimproxy-image']).split('; ').map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)]));
}

async function dimensions(response: ClientResponse): Promise<string> {
  const { width, height } = await sharp(response.body).metadata();
  return `${width}x${height}`;
}

describe('image API: explicit options on image URLs (<image-api enabled="true"/>)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let off: TestProxy;
  /** The photo turned a quarter by its EXIF orientation: 640×427 in its header, 427×640 upright. */
  let turned: Buffer;
  /** The photo and the logo as WebP (the logo keeps its transparency). */
  let webpPhoto: Buffer;
  let webpLogo: Buffer;
  /** A flat drawing: shrunk to a few pixels, no JPEG quality keeps it under d. */
  let drawing: Buffer;
  const get = (path: string, headers: Record<string, string> = {}) => fetchRaw(new URL(path, proxy.url), { headers });
  before(async () => {
    turned = await sharp(photo).withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toBuffer();
    webpPhoto = await sharp(photo).webp({ quality: 80 }).toBuffer();
    webpLogo = await sharp(logo).webp({ quality: 80 }).toBuffer();
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600"><rect width="800" height="600" fill="#3a7bd5"/><circle cx="400" cy="300" r="180" fill="#ffcc00"/><text x="400" y="320" font-size="64" text-anchor="middle" fill="#222">slimproxy</text></svg>`;
    drawing = await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
    origin = await startOrigin((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      const images: Record<string, [Buffer, string]> = { '/photo.jpg': [photo, 'image/jpeg'], '/logo.png': [logo, 'image/png'], '/starfield.jpg': [spacer, 'image/jpeg'], '/turned.jpg': [turned, 'image/jpeg'], '/photo.webp': [webpPhoto, 'image/webp'], '/logo.webp': [webpLogo, 'image/webp'], '/drawing.jpg': [drawing, 'image/jpeg'] };
      const image = images[path!];
      if (image) {
        res.writeHead(200, { 'Content-Type': image[1], 'Cache-Control': 'max-age=300', ETag: `"${path}"` });
        res.end(image[0]);
      } else if (path === '/api') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ url: req.url }));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    // Compression off: the API works on its own (with the default quality settings).
    proxy = await startProxy({ origin: origin.url, elements: '<image-api enabled="true"/>' });
    off = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await off.stop(5000);
    await origin.close();
  });

  it('without options, the original bytes go through untouched', async () => {
    const response = await get('/photo.jpg', { Accept: CHROME_ACCEPT });
    assert.deepEqual(response.body, photo);
    assert.equal(response.headers['x-slimproxy-image'], undefined);
  });

  it('format and fm: the asked format; the options never reach the origin', async () => {
    const webp = await get('/photo.jpg?format=webp');
    assert.equal(webp.status, 200);
    assert.equal(webp.headers['content-type'], 'image/webp');
    assert.equal(await dimensions(webp), '640x427');
    const png = await get('/logo.png?fm=png&q=40');
    assert.equal(png.headers['content-type'], 'image/png');
    // A palette is lossy: its distance is measured, not reported as 0.
    assert.ok(Number(described(png).dssim) > 0, `dssim ${described(png).dssim}`);
    // Transparent pixels never go out as AVIF, lossless or not (some Chromium builds stretch AVIF alpha).
    const alphaAvif = await get('/logo.png?fm=avif&quality=lossless');
    assert.equal(alphaAvif.headers['content-type'], 'image/png');
    assert.match(String(alphaAvif.headers['x-slimproxy-skip']), /AVIF alpha/);
    const avif = await get('/photo.jpg?v=3&fm=avif');
    assert.equal(avif.headers['content-type'], 'image/avif');
    assert.ok(origin.requests.some((r) => r.url === '/photo.jpg?v=3'), 'other query parameters stay');
    assert.ok(!origin.requests.some((r) => /format=|fm=|q=|size=|crop=|dpr=/.test(r.url)), origin.requests.map((r) => r.url).join(' '));
  });

  it('a marked URL gets only formats its mark allows, the original’s own format included (SPEC §5.5)', async () => {
    // A WebP original resized for `m=ic` (IE 11): JPEG, or PNG for transparency; never the original's WebP.
    const ie = await get('/photo.webp?size=100&m=ic');
    assert.equal(ie.status, 200);
    assert.equal(ie.headers['content-type'], 'image/jpeg');
    assert.equal((await sharp(ie.body).metadata()).format, 'jpeg');
    assert.equal(await dimensions(ie), '100x67');
    const alpha = await get('/logo.webp?size=50&m=ic');
    assert.equal(alpha.headers['content-type'], 'image/png');
    assert.equal((await sharp(alpha.body).metadata()).format, 'png');
    // An explicit format the mark does not allow gives way the same way; a mark that allows WebP keeps it.
    assert.equal((await get('/photo.webp?size=100&fm=webp&m=ic')).headers['content-type'], 'image/jpeg');
    assert.equal((await get('/photo.webp?size=100&m=ic,webp')).headers['content-type'], 'image/webp');
    // Unmarked, the same options keep the origin's format: a slot of its own, not the marked one's.
    const plain = await get('/photo.webp?size=100');
    assert.equal(plain.headers['content-type'], 'image/webp');
    assert.equal((await get('/photo.webp?size=100&m=ic')).headers['content-type'], 'image/jpeg');
    // Nothing to reshape and the JPEG no smaller than the WebP: the original would be sent as it is, but not to
    // this mark: the origin answers, saying why.
    const same = await get('/photo.webp?size=5000&q=100&m=ic');
    assert.match(String(same.headers['x-slimproxy-skip']), /format the mark does not allow: the origin answers/);
  });

  it('a size asked for is the answer even when no quality reaches d: the highest quality, saying so, never the full-size original', async () => {
    for (const size of [10, 40]) {
      const thumbnail = await get(`/drawing.jpg?size=${size}`);
      assert.equal(thumbnail.status, 200);
      assert.equal(await dimensions(thumbnail), `${size}x${Math.round((size * 3) / 4)}`);
      assert.ok(thumbnail.body.length < drawing.length / 4, `${thumbnail.body.length} bytes`);
      if (thumbnail.headers['x-slimproxy-skip'] !== undefined) assert.match(String(thumbnail.headers['x-slimproxy-skip']), /sent at quality \d+/);
    }
  });

  it('format=auto: the best the Accept header allows, the fallback otherwise, with Vary: Accept', async () => {
    const chrome = await get('/photo.jpg?format=auto', { Accept: CHROME_ACCEPT });
    assert.match(String(chrome.headers['content-type']), /^image\/(avif|webp|jpeg)$/);
    assert.equal(chrome.headers.vary, 'Accept');
    const webpOnly = await get('/photo.jpg?format=auto', { Accept: 'image/webp,*/*' });
    assert.match(String(webpOnly.headers['content-type']), /^image\/(webp|jpeg)$/);
    const old = await get('/logo.png?format=auto&fm=png', { Accept: '*/*' });
    assert.equal(old.headers['content-type'], 'image/png', 'PNG, the fallback, for alpha and no modern format');
    // Transparent: never AVIF (some Chromium builds stretch AVIF alpha).
    const logoChrome = await get('/logo.png?fm=auto', { Accept: CHROME_ACCEPT });
    assert.match(String(logoChrome.headers['content-type']), /^image\/(webp|png)$/);
  });

  it('quality, q and the presets: the encoder quality asked for', async () => {
    for (const [query, expected] of [['q=50', '50'], ['quality=high', '95'], ['quality=medium', '80'], ['q=low', '65']] as const) {
      const response = await get(`/photo.jpg?fm=jpeg&${query}`);
      assert.equal(described(response).quality, expected, query);
    }
    const lossless = await get('/logo.png?fm=webp&quality=lossless');
    assert.equal(lossless.headers['content-type'], 'image/webp');
    assert.equal(dssim(await decodeRgba(logo), await decodeRgba(lossless.body)), 0, 'lossless: the same pixels');
  });

  it('autoquality: a method of its own for this image (size into 20 KB, dssim under a target)', async () => {
    const sized = await get('/photo.jpg?fm=jpeg&autoquality=size:20kb:10:90:0.1');
    assert.ok(sized.body.length <= 20_000, `${sized.body.length} bytes`);
    // Within the allowed error (10%) of the target, unless already at the highest quality allowed.
    assert.ok(sized.body.length >= 18_000 || described(sized).quality === '90', `${sized.body.length} bytes at q${described(sized).quality}`);
    const close = await get('/photo.jpg?fm=jpeg&autoquality=dssim:0.001:20:95');
    const measured = dssim(await decodeRgba(photo), await decodeRgba(close.body));
    assert.ok(measured <= 0.001, `DSSIM ${measured}`);
  });

  it('size (a bounding box, aspect kept, never enlarged), dpr, Sec-CH-DPR, resize_algorithm and crop', async () => {
    assert.equal(await dimensions(await get('/photo.jpg?size=320x320')), '320x214');
    assert.equal(await dimensions(await get('/photo.jpg?size=x100')), '150x100');
    assert.equal(await dimensions(await get('/photo.jpg?size=2000')), '640x427', 'never enlarged');
    assert.equal(await dimensions(await get('/photo.jpg?size=160&dpr=2')), '320x214');
    const hinted = await get('/photo.jpg?size=160', { 'Sec-CH-DPR': '2' });
    assert.equal(await dimensions(hinted), '320x214');
    assert.equal(hinted.headers.vary, 'Sec-CH-DPR');
    // A browser's hint is never an error: below 1 it counts as 1.
    const small = await get('/photo.jpg?size=160', { 'Sec-CH-DPR': '0.75' });
    assert.equal(small.status, 200);
    assert.equal(await dimensions(small), '160x107');
    const thumbnail = await get('/photo.jpg?size=64&resize_algorithm=thumbnail');
    assert.equal(await dimensions(thumbnail), '64x43');
    assert.match(described(thumbnail).operations!, /^resize 64x43 cubic, jpeg q\d+$/);
    const cropped = await get('/photo.jpg?crop=200,100&size=100&fm=webp&q=70');
    assert.equal(await dimensions(cropped), '100x50');
    assert.equal(described(cropped).operations, 'crop 200x100, resize 100x50 lanczos3, webp q70');
  });

  it('kept by the effective transform, either way up: option sets share a variant only when they make the same pixels however EXIF turns the image', async () => {
    const header = await sharp(turned).metadata();
    assert.equal(`${header.width}x${header.height}x${header.orientation}`, '640x427x6');
    // Upright by its header both would be 300x200; turned as it is shown, they are not the same image.
    const box = await get('/turned.jpg?size=300x200&fm=webp');
    assert.equal(await dimensions(box), '133x200');
    const wide = await get('/turned.jpg?size=300&fm=webp');
    assert.equal(await dimensions(wide), '300x450');
    // Never enlarged: a box wider than the image is no box at all, and its variant is the one with no size.
    const unsized = await get('/turned.jpg?fm=webp&q=70');
    const huge = await get('/turned.jpg?size=5000&fm=webp&q=70');
    assert.equal(await dimensions(huge), '427x640');
    assert.equal(huge.headers.etag, unsized.headers.etag);
  });

  it('made once, then served from the store with the original’s lifetime and an ETag', async () => {
    const first = await get('/photo.jpg?size=200&fm=webp');
    const second = await get('/photo.jpg?size=200&fm=webp');
    assert.deepEqual(second.body, first.body);
    assert.equal(second.headers['cache-control'], 'public, no-transform, max-age=300');
    const notModified = await get('/photo.jpg?size=200&fm=webp', { 'If-None-Match': String(second.headers.etag) });
    assert.equal(notModified.status, 304);
  });

  it('sends the original, saying so, when the conversion would be bigger', async () => {
    const response = await get('/starfield.jpg?fm=png&quality=lossless');
    assert.deepEqual(response.body, spacer);
    assert.equal(response.headers['x-slimproxy-skip'], 'converted image bigger than original');
  });

  it('refuses an option value it does not know with 400, naming the option and what it allows', async () => {
    const cases: [string, RegExp][] = [
      ['format=gif', /image option format=gif: must be one of jpeg, png, webp, avif, auto/],
      ['q=101', /image option q=101: must be an integer from 0 to 100, or high, medium, low, lossless/],
      ['size=big', /image option size=big: must be WIDTHxHEIGHT, WIDTH or xHEIGHT/],
      ['size=10&dpr=11', /image option dpr=11: must be a number from 1 to 10/],
      ['resize_algorithm=nearest', /image option resize_algorithm=nearest: must be one of lanczos3, thumbnail, auto/],
      ['crop=10', /image option crop=10: must be WIDTH,HEIGHT in pixels/],
      ['autoquality=fast:1', /image option autoquality=fast:1: must be method:target:min:max:allowed_error/],
      // The same rule as config.xml's method and target.
      ['autoquality=none:0.002', /image option autoquality=none:0.002: must be .*method="none" has no target/],
    ];
    for (const [query, message] of cases) {
      const response = await get(`/photo.jpg?${query}`);
      assert.equal(response.status, 400, query);
      assert.match(response.body.toString(), message);
    }
  });

  it('survives query parts that are not valid percent-encoding: unknown ones reach the origin, bad values get 400', { timeout: 30_000 }, async () => {
    const unknown = await get('/photo.jpg?%E0=1&size=100');
    assert.equal(unknown.status, 200);
    assert.equal(await dimensions(unknown), '100x67');
    const bad = await get('/photo.jpg?format=%E0');
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /image option format=%e0: must be one of/);
  });

  it('leaves the origin’s own endpoints that use the same names alone, and is off by default', async () => {
    const api = await get('/api?format=json&size=3', { Accept: 'application/json' });
    assert.equal((JSON.parse(api.body.toString()) as { url: string }).url, '/api?format=json&size=3');
    const disabled = await fetchRaw(new URL('/photo.jpg?format=webp', off.url));
    assert.equal(disabled.headers['content-type'], 'image/jpeg');
    assert.ok(origin.requests.some((r) => r.url === '/photo.jpg?format=webp'), 'without <image-api>, the parameters are the origin’s');
  });
});
