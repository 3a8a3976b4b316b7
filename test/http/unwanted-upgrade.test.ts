import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { selfSignedCertificate } from '../support/certificates.js';
import { sendRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { assertUpgradePasses } from '../support/upgrade.js';

const run = promisify(execFile);

describe('an Upgrade the proxy does not take is ignored, and the request answered (RFC 9110 §7.8)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const certificate = selfSignedCertificate();

  before(async () => {
    origin = await startOrigin((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`${req.method} ${req.url} body=${Buffer.concat(chunks).toString()}`);
      });
    });
    proxy = await startProxy({ origin: origin.url, listenAttributes: '', elements: `<listen address="127.0.0.1" port="0" tls-cert="${certificate.certPath}" tls-key="${certificate.keyPath}"/>` });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('curl --http2 on an http: URL (an h2c offer) gets the page over HTTP/1.1, not an empty reply', async () => {
    const { stdout } = await run('curl', ['-s', '-i', '--http2', new URL('/h2c', proxy.url).href, new URL('/again', proxy.url).href]);
    assert.match(stdout, /^HTTP\/1\.1 200 [^]*GET \/h2c body=[^]*HTTP\/1\.1 200 [^]*GET \/again body=/);
    const seen = origin.requests.at(-1)!;
    assert.equal(seen.headers.upgrade, undefined);
    assert.equal(seen.headers['http2-settings'], undefined);
  });

  it('a body and a pipelined request after the offer are read as they came', async () => {
    const raw = await sendRaw(
      proxy.port,
      'POST /form HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.match(raw, /^HTTP\/1\.1 200 [^]*POST \/form body=hello\r\n[^]*HTTP\/1\.1 200 [^]*GET \/next body=\r\n0\r\n\r\n$/);
  });

  for (const offer of ['TLS/1.0', 'foo, bar/2', 'h2c']) {
    it(`Upgrade: ${offer} is answered as a plain request`, async () => {
      const raw = await sendRaw(proxy.port, `GET /offer HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: ${offer}\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 200 [^]*Connection: close\r\n[^]*GET \/offer body=\r\n0\r\n\r\n$/);
    });
  }

  it('over HTTPS (HTTP/1.1) too', async () => {
    const secure = proxy.running.urls[1]!;
    const body = await new Promise<string>((resolve, reject) => {
      httpsRequest(new URL('/tls', secure), { ca: certificate.cert, agent: false, headers: { connection: 'Upgrade', upgrade: 'h2c' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(`${res.statusCode} ${Buffer.concat(chunks).toString()}`));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(body, '200 GET /tls body=');
  });

  it('WebSocket upgrades still pass through', async () => {
    await assertUpgradePasses(origin, new URL('/ws', proxy.url));
  });
});
