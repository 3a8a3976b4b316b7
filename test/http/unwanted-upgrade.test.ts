import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { selfSignedCertificate, tlsListener } from '../support/certificates.js';
import { sendRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { assertUpgradePasses } from '../support/upgrade.js';

const run = promisify(execFile);

/** The origin: method, path and body of what it got. */
function echo(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`${req.method} ${req.url} body=${Buffer.concat(chunks).toString()}`);
  });
}

describe('an Upgrade the proxy does not take is ignored, and the request answered (RFC 9110 §7.8)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const certificate = selfSignedCertificate();

  before(async () => {
    origin = await startOrigin(echo);
    proxy = await startProxy({ origin: origin.url, elements: tlsListener(certificate) });
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

  it('keeps every field but the offer: a body framed by a field Connection names is still its body (review 2: smuggling)', async () => {
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    const before = origin.requests.length;
    const raw = await sendRaw(
      proxy.port,
      `POST /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, Content-Length, close\r\nUpgrade: h2c\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    );
    assert.match(raw, /^HTTP\/1\.1 200 [^]*POST \/a body=GET \/smuggled/);
    assert.deepEqual(origin.requests.slice(before).map((r) => r.url), ['/a']);
  });

  it('answers an offer pipelined behind a request still being answered (review 2: it was never answered)', async () => {
    origin.handle((req, res) => {
      const delay = req.url?.startsWith('/slow') ? 300 : 0;
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`${req.method} ${req.url} body=`);
      }, delay);
    });
    try {
      const raw = await sendRaw(proxy.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n');
      assert.match(raw, /^HTTP\/1\.1 200 [^]*GET \/slow body=[^]*HTTP\/1\.1 200 [^]*GET \/two body=/);
      // Behind two, the second waiting its turn (third review: the offer waited for the first only, and was never
      // answered).
      const three = await sendRaw(proxy.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /slow?2 HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n');
      assert.match(three, /^HTTP\/1\.1 200 [^]*GET \/slow body=[^]*HTTP\/1\.1 200 [^]*GET \/slow\?2 body=[^]*HTTP\/1\.1 200 [^]*GET \/three body=/);
    } finally {
      origin.handle(echo);
    }
  });

  it('answers an offer on every request of one connection, and nothing piles up on it (review 2: listeners)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const offer = 'GET /again HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';
      const raw = await sendRaw(proxy.port, `${offer.repeat(12)}GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal((raw.match(/HTTP\/1\.1 200 /g) ?? []).length, 13);
      assert.match(raw, /GET \/last body=/);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('Upgrade: websocket, h2c and websocket/13 (which http-proxy-3 does not take) are answered as plain requests', async () => {
    for (const offer of ['websocket, h2c', 'websocket/13']) {
      const raw = await sendRaw(proxy.port, `GET /combined HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: ${offer}\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 200 [^]*GET \/combined body=/, offer);
    }
  });

  it('WebSocket upgrades still pass through', async () => {
    await assertUpgradePasses(origin, new URL('/ws', proxy.url));
  });
});

describe('a WebSocket upgrade goes through the gates of every request (review 2)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((_req, res) => res.end());
    origin.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Path: ${req.url}\r\nX-Seen-Host: ${String(req.headers['x-forwarded-host'])}\r\nX-Seen-Forwarded: ${String(req.headers.forwarded)}\r\n\r\n`);
    });
    proxy = await startProxy({ origin: new URL('/prefix/', origin.url) });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  const websocket = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: site.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

  it("refuses a '..' out of the origin's path prefix with 400, as for any request", async () => {
    const before = origin.requests.length;
    for (const path of ['/../admin/secret.txt', '/%2e%2e/admin/x']) {
      const raw = await sendRaw(proxy.port, websocket(path));
      assert.match(raw, /^HTTP\/1\.1 400 /, path);
    }
    assert.equal(origin.requests.length, before);
  });

  it("replaces a client's forwarding fields", async () => {
    const raw = await sendRaw(proxy.port, websocket('/ws', 'X-Forwarded-Host: evil.example\r\nForwarded: host=evil.example\r\n'));
    assert.match(raw, /^HTTP\/1\.1 101 [^]*X-Path: \/prefix\/ws/i);
    assert.doesNotMatch(raw, /evil/);
    assert.match(raw, /X-Seen-Forwarded: undefined\r\n/i);
  });
});
