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
