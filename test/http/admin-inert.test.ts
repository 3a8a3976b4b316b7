import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { cutout, untilFinal } from '../support/images.js';
import { servingFiles, startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));
const EVIL_SVG = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="red"/>' +
    '<script>document.title = "ran"</script></svg>',
);
const INERT_CSP = "sandbox; default-src 'none'; img-src data:";

interface StatusApi {
  readonly store: { readonly top: readonly { readonly url: string; readonly type: string; readonly state: string; readonly best?: { readonly experiment: string; readonly variant: string } }[] };
}

describe('what the admin listener serves from the store is inert', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let admin: URL;
  const image = (query: string, method = 'GET') => fetchRaw(new URL(`image?${query}`, admin), { method });
  const status = async () => JSON.parse((await fetchRaw(new URL('api/status', admin))).body.toString()) as StatusApi;


  before(async () => {
    const files: Record<string, [string, Buffer]> = {
      '/evil.svg': ['image/svg+xml', EVIL_SVG],
      '/photo.jpg': ['image/jpeg', photo],
      // The origin's word on these bytes is text/html: the admin listener must go by the bytes.
      '/mislabelled.jpg': ['text/html', photo],
      '/cutout.png': ['image/png', await cutout(photo)],
    };
    origin = await startOrigin(servingFiles(files));
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression formats="webp"/>' });
    admin = proxy.running.adminUrl!;
    assert.deepEqual((await fetchRaw(new URL('/evil.svg?m=ic', proxy.url))).body, EVIL_SVG, 'the proxy passes the SVG through');
    assert.equal((await fetchRaw(new URL('/mislabelled.jpg?m=ic', proxy.url))).status, 200);
    await untilFinal(proxy, '/photo.jpg?m=ic,webp');
    await untilFinal(proxy, '/cutout.png?m=ic,zorro');
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  it('keeps the SVG original but never sends its bytes, to GET or HEAD', async () => {
    const stored = (await status()).store.top.find((entry) => entry.url === '/evil.svg');
    assert.equal(stored?.type, 'image/svg+xml', 'the SVG is in the store: a refusal, not an absence');
    for (const query of ['url=%2Fevil.svg', 'url=%2Fevil.svg&which=original', 'url=%2Fevil.svg&which=best&variant=jpeg']) {
      for (const method of ['GET', 'HEAD']) {
        const res = await image(query, method);
        assert.equal(res.status, 404, `${method} ${query}`);
        assert.match(String(res.headers['content-type']), /^text\/plain/);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        assert.equal(res.headers['content-security-policy'], INERT_CSP);
        assert.ok(!res.body.includes('<script'), `${method} ${query}: no SVG bytes`);
        if (method === 'GET') assert.equal(res.body.toString(), 'not shown: not a raster image\n');
      }
    }
    assert.equal((await image('url=%2Fnowhere.jpg')).body.toString(), 'no such image\n');
  });

  it('serves a raster original and its best variant with the type their bytes say, nosniff and the sandbox', async () => {
    const original = await image('url=%2Fphoto.jpg&which=original');
    assert.equal(original.status, 200);
    assert.deepEqual(original.body, photo);
    const best = (await status()).store.top.find((entry) => entry.url === '/photo.jpg')?.best;
    assert.equal(best?.variant, 'webp', 'the smallest outcome kept');
    const variant = await image('url=%2Fphoto.jpg&which=best&variant=webp');
    assert.equal(variant.status, 200);
    assert.ok(variant.body.length < photo.length, 'the variant, not the original');
    const magic = { 'image/jpeg': (b: Buffer) => b[0] === 0xff && b[1] === 0xd8, 'image/webp': (b: Buffer) => b.subarray(8, 12).toString('latin1') === 'WEBP' };
    for (const [res, what] of [
      [original, 'original'],
      [variant, `variant (${best.experiment})`],
    ] as const) {
      const type = String(res.headers['content-type']);
      assert.ok(type in magic && magic[type as keyof typeof magic](res.body), `${what}: ${type} is what the bytes are`);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['content-security-policy'], INERT_CSP);
      assert.equal(res.headers['content-encoding'], undefined);
    }
  });

  it('goes by the bytes, not the Content-Type the origin gave', async () => {
    const res = await image('url=%2Fmislabelled.jpg');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'image/jpeg', 'the origin said text/html');
    assert.deepEqual(res.body, photo);
  });

  it('serves a ZorroSVG variant the proxy made as gzip-coded SVG, sandboxed', async () => {
    const best = (await status()).store.top.find((entry) => entry.url === '/cutout.png')?.best;
    assert.equal(best?.experiment, 'zorro', 'ZorroSVG is the smallest for ic,zorro');
    const res = await image(`url=%2Fcutout.png&which=best&variant=${encodeURIComponent(best.variant)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'image/svg+xml');
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['content-security-policy'], INERT_CSP);
    const svg = gunzipSync(res.body).toString();
    assert.match(svg, /^<svg [^>]*><defs><mask /);
    assert.doesNotMatch(svg, /<script/);
  });

  it('gives the status page a policy that allows its own stylesheet and thumbnails and nothing else, nosniff everywhere', async () => {
    const res = await fetchRaw(new URL('status', admin));
    assert.equal(res.status, 200);
    const policy = String(res.headers['content-security-policy']);
    const directives = new Map(policy.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('img-src'), ["'self'", 'data:']);
    assert.ok(!directives.has('script-src'), 'no script');
    const page = res.body.toString();
    assert.doesNotMatch(page, /<script|\son\w+=|style="/, 'nothing on the page needs script or inline style attributes');
    const styles = [...page.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`);
    assert.equal(styles.length, 1);
    assert.deepEqual(directives.get('style-src'), styles, 'the stylesheet by its hash, no unsafe-inline');
    const thumbnails = [...page.matchAll(/<img src="([^"]*)"/g)].map((m) => m[1]!);
    assert.ok(thumbnails.length >= 4, `${thumbnails.length} thumbnails`);
    assert.ok(thumbnails.every((src) => src.startsWith('/image?')), 'every image from this listener');
    for (const path of ['', 'status', 'api/status', 'metrics', 'api/idle', 'nowhere']) {
      assert.equal((await fetchRaw(new URL(path, admin))).headers['x-content-type-options'], 'nosniff', `/${path}`);
    }
    const post = await fetchRaw(new URL('status', admin), { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers['x-content-type-options'], 'nosniff');
  });
});
