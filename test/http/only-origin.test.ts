import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

describe('only the configured origin is ever contacted', () => {
  let origin: TestOrigin;
  let bystander: TestOrigin;
  const proxies: TestProxy[] = [];
  before(async () => {
    origin = await startOrigin((req, res) => res.end(`origin saw ${req.url}`));
    bystander = await startOrigin((_req, res) => res.end('bystander'));
    proxies.push(await startProxy({ origin: origin.url }));
    proxies.push(await startProxy({ origin: origin.url, originAttributes: 'host="client"' }));
  });
  after(async () => {
    for (const proxy of proxies) await proxy.stop();
    await origin.close();
    await bystander.close();
  });

  const other = () => `127.0.0.1:${bystander.port}`;
  const tricks: [string, () => string, RegExp][] = [
    ['a forged Host', () => `GET /page HTTP/1.1\r\nHost: ${other()}\r\nConnection: close\r\n\r\n`, /origin saw \/page$/],
    ['a forged X-Forwarded-Host', () => `GET /p HTTP/1.1\r\nHost: x\r\nX-Forwarded-Host: ${other()}\r\nConnection: close\r\n\r\n`, /origin saw \/p$/],
    ['an absolute-form target', () => `GET http://${other()}/x HTTP/1.1\r\nHost: ${other()}\r\nConnection: close\r\n\r\n`, /origin saw \/x$/],
    ['an absolute-form target without path', () => `GET http://${other()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /origin saw \/$/],
    ['a network-path target', () => `GET //${other()}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /origin saw \/\/127\.0\.0\.1:\d+\/x$/],
    ['dot segments', () => `GET /../../${other()}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /origin saw \/\.\.\/\.\.\/127/],
    ['percent-encoded dots and slashes', () => `GET /%2e%2e/%2F%2F${other()}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /origin saw \/%2e%2e\/%2F%2F127/],
    ['a backslash target', () => `GET /\\${other()}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /origin saw \/\\127/],
    ['userinfo-looking path', () => `GET /@${other()}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /origin saw \/@127/],
    ['an authority-form GET', () => `GET ${other()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /^HTTP\/1\.1 400 /],
    ['CONNECT', () => `CONNECT ${other()} HTTP/1.1\r\nHost: ${other()}\r\n\r\n`, /^HTTP\/1\.1 405 /],
    [
      'a WebSocket upgrade with an absolute-form target',
      () => `GET http://${other()}/ws HTTP/1.1\r\nHost: ${other()}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      /origin saw \/ws$/,
    ],
  ];

  for (const [what, raw, expected] of tricks) {
    it(what, async () => {
      for (const proxy of proxies) {
        const answer = await sendRaw(proxy.port, raw());
        assert.match(answer, expected);
      }
      assert.equal(bystander.connections, 0, 'the other server saw no connection');
    });
  }
});

describe("a request never climbs out of the origin URL's path (hostile review: nginx answered /../admin/ under /site/)", () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let root: TestProxy;
  before(async () => {
    origin = await startOrigin((req, res) => res.end(`origin saw ${req.url}`));
    proxy = await startProxy({ origin: new URL('/site/', origin.url), elements: '<image-compression/>' });
    root = await startProxy({ origin: origin.url });
  });
  after(async () => {
    await proxy.stop();
    await root.stop();
    await origin.close();
  });

  for (const path of ['/../admin/secret.txt', '/%2e%2e/admin/secret.txt', '/..%2fadmin/secret.txt', '/a/%2E./../../admin/x.jpg', '/..\\admin/secret.jpg?m=ic', '/img/..%5c..%5cadmin/secret.jpg', '/..;/admin/secret.txt', '/a/..;jsessionid=1/../x']) {
    it(`refuses ${path} with 400 and asks the origin nothing`, async () => {
      const before = origin.requests.length;
      const raw = await sendRaw(proxy.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 400 /);
      assert.equal(origin.requests.length, before);
    });
  }

  it('passes paths that only look like it, and any path to an origin without a prefix', async () => {
    for (const path of ['/a..b/c', '/...', '/x/..y', '/q?up=../..']) {
      const raw = await sendRaw(proxy.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(raw, new RegExp(`origin saw /site${path.replace(/[.?]/g, '\\$&')}$`), path);
    }
    const raw = await sendRaw(root.port, 'GET /a/../b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(raw, /origin saw \/a\/\.\.\/b$/);
  });
});
