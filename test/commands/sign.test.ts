import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { pageUrlParts, signImageUrl } from '../../src/http/image-signature.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, type ProxyOptions, runProxyToExit, startProxy, testConfigXml, type TestProxy, writeTempConfig } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/flower.jpg', PROJECT_ROOT)); // 640×427
const SIGNING = { key: '0a1b2c3d4e5f60718293a4b5c6d7e8f9', salt: 'f0e1d2c3b4a59687' };
const IMAGE_API = `<image-api enabled="true" key="${SIGNING.key}" salt="${SIGNING.salt}"/>`;

describe('slimproxy sign', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let configPath: string;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=300' });
      res.end(photo);
    });
    const options: ProxyOptions = { origin: origin.url, elements: IMAGE_API };
    // The command reads the same config the proxy runs with.
    configPath = writeTempConfig(testConfigXml(options));
    proxy = await startProxy(options);
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  it('prints the signed URL, path in, path out; the proxy transforms what it printed', async () => {
    const { code, stdout, stderr } = await runProxyToExit(['sign', '/flower.jpg?size=200&fm=webp', '--config', configPath]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.match(stdout, /^\/flower\.jpg\?size=200&fm=webp&slimproxy_sig=[A-Za-z0-9_-]{43}\n$/);
    const response = await fetchRaw(new URL(stdout.trim(), proxy.url));
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'image/webp');
    const { width, height } = await sharp(response.body).metadata();
    assert.equal(`${width}x${height}`, '200x133');
    // The same URL unsigned is refused: the signature is what let it through.
    assert.equal((await fetchRaw(new URL('/flower.jpg?size=200&fm=webp', proxy.url))).status, 403);
  });

  it('absolute in, absolute out (scheme, host and fragment kept, the config from $SLIMPROXY_CONFIG)', async () => {
    const { code, stdout, stderr } = await runProxyToExit(['sign', 'https://www.example.org/flower.jpg?v=2&crop=100,100#x'], { SLIMPROXY_CONFIG: configPath });
    assert.equal(code, 0, stderr);
    const match = /^https:\/\/www\.example\.org(\/flower\.jpg\?v=2&crop=100,100&slimproxy_sig=[A-Za-z0-9_-]{43})#x\n$/.exec(stdout);
    assert.ok(match, stdout);
    const response = await fetchRaw(new URL(match[1]!, proxy.url));
    assert.equal(response.status, 200);
    const { width, height } = await sharp(response.body).metadata();
    assert.equal(`${width}x${height}`, '100x100');
  });

  /** `slimproxy sign <url>` with the test's config. */
  const sign = (url: string) => runProxyToExit(['sign', url, '--config', configPath]);

  /** Exit 2, nothing on stdout, one line on stderr matching (or holding) `message`; the URL it says to sign instead. */
  async function refused(url: string, message: RegExp | string): Promise<string> {
    const { code, stdout, stderr } = await sign(url);
    assert.equal(code, 2, `${url}: ${stdout}${stderr}`);
    assert.equal(stdout, '');
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    if (typeof message === 'string') assert.ok(stderr.includes(message), stderr);
    else assert.match(stderr, message);
    return / sign (\S+)\n$/.exec(stderr)![1]!;
  }

  /** The URL the command prints for `url`, signed without a word on stderr. */
  async function signed(url: string): Promise<string> {
    const { code, stdout, stderr } = await sign(url);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    return stdout.trim();
  }

  it('refuses a URL with a mark: the proxy takes the mark off before checking, so it was never part of what is signed', async () => {
    // What it would have signed is refused by the proxy.
    const asWritten = await fetchRaw(new URL(signImageUrl('/flower.jpg?size=120&m=ic,webp', SIGNING), proxy.url));
    assert.equal(asWritten.status, 403);
    const instead = await refused('/flower.jpg?size=120&m=ic,webp', /^slimproxy sign: \/flower\.jpg\?size=120&m=ic,webp carries the mark m=ic,webp, which the proxy's rewriter adds .* takes off before checking the signature: sign \/flower\.jpg\?size=120\n$/);
    assert.equal(await refused('https://example.org/flower.jpg?m=ic&size=120#top', /carries the mark m=ic,/), 'https://example.org/flower.jpg?size=120#top');
    // Signed without it, the URL works marked or not.
    const url = await signed(instead);
    for (const sent of [url, `${url}&m=ic,webp`]) {
      const response = await fetchRaw(new URL(sent, proxy.url));
      assert.equal(response.status, 200, sent);
      const { width } = await sharp(response.body).metadata();
      assert.equal(width, 120);
    }
  });

  it('refuses an HTML-escaped URL (&amp;): the browser sends &, so what it signs is not what is asked for', async () => {
    // Signed as written, the options are read as "amp;fm": the image comes back a JPEG.
    const asWritten = await fetchRaw(new URL(signImageUrl('/flower.jpg?size=120&amp;fm=webp', SIGNING), proxy.url));
    assert.equal(asWritten.headers['content-type'], 'image/jpeg');
    const instead = await refused('/flower.jpg?size=120&amp;fm=webp', /^slimproxy sign: \/flower\.jpg\?size=120&amp;fm=webp is HTML-escaped \(a browser sends "&amp;" as "&"\): unescape it first and sign \/flower\.jpg\?size=120&fm=webp\n$/);
    await refused('/flower.jpg?size=120&#38;fm=webp', /is HTML-escaped/);
    const response = await fetchRaw(new URL(await signed(instead), proxy.url));
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'image/webp');
  });

  it('refuses a target the browser’s URL parser changes (/../, /./, \\, {}), naming the form it sends; that form, signed, is served', async () => {
    const cases: [string, string][] = [
      ['/img/../flower.jpg?size=100', '/flower.jpg?size=100'],
      ['/img/./flower.jpg?size=100', '/img/flower.jpg?size=100'],
      ['/img\\flower.jpg?size=100', '/img/flower.jpg?size=100'],
      ['/{flower}.jpg?size=100', '/%7Bflower%7D.jpg?size=100'],
      ['/img/%2e%2e/flower.jpg?size=100', '/flower.jpg?size=100'],
      ['https://example.org/a/../flower.jpg?size=100#x', 'https://example.org/flower.jpg?size=100#x'],
    ];
    // What the browser (here Node's URL, the same WHATWG parser) asks the proxy for.
    const asked = (url: string) => new URL(pageUrlParts(url).target, proxy.url);
    for (const [written, sent] of cases) {
      // Signed as written, the request made for it is refused.
      assert.equal((await fetchRaw(asked(signImageUrl(written, SIGNING)))).status, 403, written);
      const instead = await refused(written, `${written} is not what a browser asks for: it sends ${pageUrlParts(sent).target} (`);
      assert.equal(instead, sent, written);
      const url = await signed(instead);
      const response = await fetchRaw(asked(url));
      assert.equal(response.status, 200, url);
      assert.equal((await sharp(response.body).metadata()).width, 100, url);
    }
  });

  it('signs a URL without an image extension with a warning: the proxy reads its options only when the browser asks for an image', async () => {
    const { code, stdout, stderr } = await sign('/thumb?id=3&size=100');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^\/thumb\?id=3&size=100&slimproxy_sig=[A-Za-z0-9_-]{43}\n$/);
    assert.match(stderr, /^slimproxy sign: warning: \/thumb\?id=3&size=100 has no image extension \(\.jpg, \.jpeg, \.png, \.gif, \.webp, \.avif\): its options are read only when the browser asks for it as an image \(Accept: image\/…, as <img> and CSS do\); a link or fetch\(\) sends it to your site as it is\n$/);
    // As an <img> asks for it: transformed.
    const image = await fetchRaw(new URL(stdout.trim(), proxy.url), { headers: { Accept: 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8' } });
    assert.equal(image.status, 200);
    assert.equal((await sharp(image.body).metadata()).width, 100);
    // As a link or fetch() asks for it: the options and the signature go to the site.
    const link = await fetchRaw(new URL(stdout.trim(), proxy.url), { headers: { Accept: 'text/html,*/*;q=0.8' } });
    assert.deepEqual(link.body, photo);
    assert.ok(origin.requests.some((r) => r.url === stdout.trim()), 'the origin was asked for the URL as it is');
  });

  it('exit 2 with one line saying why: no key in the config, not an option URL, a bad option, not ASCII, not a URL', async () => {
    const keyless = writeTempConfig(testConfigXml({ origin: origin.url, elements: '<image-api enabled="true"/>' }));
    const cases: [string[], RegExp][] = [
      [['sign', '/flower.jpg?size=200', '--config', keyless], /^slimproxy sign: .*config\.xml has no <image-api key="…" salt="…">: option URLs are not signed\n$/],
      [['sign', '/flower.jpg?v=1', '--config', configPath], /^slimproxy sign: \/flower\.jpg\?v=1 has no image options \(format, fm, .*crop\): only option URLs are signed\n$/],
      [['sign', '/flower.jpg', '--config', configPath], /^slimproxy sign: \/flower\.jpg has no image options/],
      [['sign', '/flower.jpg?q=101', '--config', configPath], /^slimproxy sign: image option q=101: must be an integer from 0 to 100/],
      [['sign', '/flöwer.jpg?size=10', '--config', configPath], /^slimproxy sign: .* outside ASCII: percent-encode them/],
      [['sign', 'flower.jpg?size=10', '--config', configPath], /^slimproxy sign: flower\.jpg\?size=10 is neither an absolute URL nor a path/],
      [['sign', '/flower.jpg?size=10', '--config', '/nonexistent/config.xml'], /^slimproxy sign: bad config: \/nonexistent\/config\.xml: cannot read the config file: no such file/],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await runProxyToExit(args);
      assert.equal(code, 2, args.join(' '));
      assert.equal(stdout, '');
      assert.match(stderr, message);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    }
    const usage = await runProxyToExit(['sign']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^slimproxy sign: give one URL\nusage: slimproxy sign <url> \[--config FILE\]/);
    const help = await runProxyToExit(['sign', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: slimproxy sign <url>/);
  });
});
