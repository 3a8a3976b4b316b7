import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, type ProxyOptions, runProxyToExit, startProxy, testConfigXml, type TestProxy, writeTempConfig } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/flower.jpg', PROJECT_ROOT)); // 640×427
const IMAGE_API = '<image-api enabled="true" key="0a1b2c3d4e5f60718293a4b5c6d7e8f9" salt="f0e1d2c3b4a59687"/>';

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
