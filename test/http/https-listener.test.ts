import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect as connectHttp2, constants } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { once } from 'node:events';
import { connect as connectTls } from 'node:tls';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { launchChromium } from '../support/browser.js';
import { selfSignedCertificate, tlsListener } from '../support/certificates.js';
import { fetchRaw, sendRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { spawnProxy, startProxy, testConfigXml, type TestProxy, waitForLog, writeTempConfig } from '../support/proxy.js';
import { until } from '../support/until.js';
import { assertUpgradePasses } from '../support/upgrade.js';

const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const PAGES = ['/', '/about.html', '/gallery.html', '/products/index.html', '/products/specs.html'];

/** curl's answer: the protocol it spoke, the status, the body (curl writes it to stdout, the rest after a marker). */
async function curl(url: URL, args: readonly string[] = []): Promise<{ version: string; status: number; body: Buffer }> {
  const { stdout } = await promisify(execFile)('curl', ['-sk', ...args, '-A', CHROME_UA, '-w', '\n@@%{http_version} %{http_code}', url.href], { encoding: 'buffer', maxBuffer: 64 << 20 });
  const marker = stdout.lastIndexOf('\n@@');
  const [version = '', status = ''] = stdout.subarray(marker + 3).toString().split(' ');
  return { version, status: Number(status), body: stdout.subarray(0, marker) };
}

/** Every marked image URL of a page, in page order. */
function markedImages(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]*[?&]m=[^"]*)"/g)].map((match) => match[1]!.replaceAll('&amp;', '&'));
}

async function http2Get(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const stream = session.request({ ':path': path, 'user-agent': CHROME_UA, ...headers });
  const [response] = (await once(stream, 'response')) as [Record<string, unknown>];
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { status: Number(response[':status']), headers: response, body: Buffer.concat(chunks) };
}

describe('an HTTPS listener: HTTP/2 and HTTP/1.1 by ALPN, the same answers as the plain listener', () => {
  let proxy: TestProxy;
  let secure: URL;
  const certificate = selfSignedCertificate();

  before(async () => {
    proxy = await startProxy({ origin: 'embedded', elements: `<image-compression/>${tlsListener(certificate)}` });
    secure = proxy.running.urls[1]!;
    assert.equal(secure.protocol, 'https:');
  });
  after(() => proxy.stop());

  it('curl --http2 gets every demo page byte for byte as over plain HTTP/1.1, marks included', async () => {
    let marks = 0;
    for (const path of PAGES) {
      const plain = await fetchRaw(new URL(path, proxy.url), { headers: { 'user-agent': CHROME_UA } });
      const h2 = await curl(new URL(path, secure), ['--http2']);
      assert.equal(h2.version, '2', path);
      assert.equal(h2.status, plain.status, path);
      assert.ok(h2.body.equals(plain.body), `${path}: the same bytes over HTTP/2`);
      marks += markedImages(plain.body.toString()).length;
    }
    assert.ok(marks > 20, `the demo pages carry marks (${marks})`);
  });

  it('serves marked images over HTTP/2 as over HTTP/1.1 (same bytes once final)', async () => {
    const page = await fetchRaw(new URL('/', proxy.url), { headers: { 'user-agent': CHROME_UA } });
    const images = markedImages(page.body.toString()).slice(0, 3);
    assert.equal(images.length, 3);
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      for (const image of images) {
        // Each request starts the next experiment its mark needs: ask until the answer is final.
        for (let round = 0; round < 12; round += 1) {
          const answer = await http2Get(session, new URL(image, secure).pathname + new URL(image, secure).search);
          await proxy.running.experimentsIdle();
          if (String(answer.headers['cache-control']).startsWith('public')) break;
        }
        const target = new URL(image, secure);
        const h2 = await http2Get(session, target.pathname + target.search);
        const plain = await fetchRaw(new URL(target.pathname + target.search, proxy.url));
        assert.equal(h2.status, 200, image);
        assert.match(String(h2.headers['cache-control']), /^public/, `${image} is final`);
        assert.equal(h2.headers['content-type'], plain.headers['content-type'], image);
        assert.ok(h2.body.equals(plain.body), `${image}: the same bytes over HTTP/2`);
        assert.equal(h2.headers['x-slimproxy-image'], plain.headers['x-slimproxy-image'], image);
      }
    } finally {
      session.close();
    }
  });

  it('keeps HTTP/1.1 clients working on the same listener (no ALPN, or ALPN http/1.1)', async () => {
    const plain = await fetchRaw(new URL('/about.html', proxy.url), { headers: { 'user-agent': CHROME_UA } });
    // Node's HTTPS client offers no ALPN: an HTTP/1.1 client of before HTTP/2.
    const req = httpsRequest(new URL('/about.html', secure), { ca: certificate.cert, headers: { 'user-agent': CHROME_UA }, agent: false });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    assert.equal(res.httpVersion, '1.1');
    assert.equal(res.statusCode, 200);
    assert.ok(Buffer.concat(chunks).equals(plain.body));
    const h1 = await curl(new URL('/about.html', secure), ['--http1.1']);
    assert.equal(h1.version, '1.1');
    assert.ok(h1.body.equals(plain.body));
  });

  it('loads the demo site in Chromium over HTTP/2, every image shown, the same marks as over HTTP', async () => {
    const browser = await launchChromium();
    try {
      const seen: { over: string; images: string[]; protocols: Set<string> }[] = [];
      for (const base of [proxy.url, secure]) {
        const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1024, height: 768 } });
        // The demo pages name one image elsewhere (a legacy counter): the machine has no network beyond loopback.
        await context.route((target) => target.hostname !== '127.0.0.1', (route) => route.abort('internetdisconnected'));
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        const protocols = new Set<string>();
        const failures: string[] = [];
        cdp.on('Network.responseReceived', (event: { response: { protocol?: string; url: string; status: number } }) => {
          if (new URL(event.response.url).hostname !== '127.0.0.1') return;
          if (event.response.protocol) protocols.add(event.response.protocol);
          if (event.response.status >= 400) failures.push(`${event.response.status} ${event.response.url}`);
        });
        await cdp.send('Network.enable');
        page.on('requestfailed', (request) => {
          if (new URL(request.url()).hostname === '127.0.0.1') failures.push(`failed ${request.url()}`);
        });
        await page.goto(new URL('/', base).href, { waitUntil: 'load' });
        const images = await page.locator('img').evaluateAll((nodes) => nodes.map((node) => {
          const image = node as unknown as { getAttribute(name: string): string | null; complete: boolean; naturalWidth: number };
          return { src: image.getAttribute('src') ?? '', shown: image.complete && image.naturalWidth > 0 };
        }));
        assert.deepEqual(failures, [], `nothing failed over ${base.protocol}`);
        assert.ok(images.length > 5);
        for (const image of images) if (!/^https?:\/\/(?!127\.0\.0\.1)/.test(image.src)) assert.ok(image.shown, `${image.src} shown over ${base.protocol}`);
        seen.push({ over: base.protocol, images: images.map((image) => image.src), protocols });
        await context.close();
      }
      assert.deepEqual([...seen[1]!.protocols], ['h2'], 'every response over HTTP/2');
      assert.deepEqual(seen[1]!.images, seen[0]!.images, 'the same image URLs, marks included');
      assert.ok(seen[0]!.images.some((src) => /[?&]m=/.test(src)));
    } finally {
      await browser.close();
    }
  });
});

describe('an HTTPS listener in front of a programmable origin', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let secure: URL;
  const certificate = selfSignedCertificate();

  before(async () => {
    origin = await startOrigin();
    proxy = await startProxy({ origin: origin.url, elements: tlsListener(certificate, 'idle-timeout="1"') });
    secure = proxy.running.urls[1]!;
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('never forwards HTTP/2 pseudo-headers; the origin gets Host from :authority and HTTP/1.1', async () => {
    origin.handle((_req, res) => res.end('ok'));
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      const answer = await http2Get(session, '/pseudo?x=1', { 'x-custom': 'kept' });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), 'ok');
    } finally {
      session.close();
    }
    const seen = origin.requests.findLast((request) => request.url === '/pseudo?x=1');
    assert.ok(seen);
    assert.deepEqual(seen.rawHeaders.filter((_, i) => i % 2 === 0 && seen.rawHeaders[i]!.startsWith(':')), []);
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], secure.host);
  });

  it('passes the origin response to an HTTP/2 client without its connection-specific fields', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, 'Fine', { 'Content-Type': 'text/plain', 'Keep-Alive': 'timeout=5', Connection: 'keep-alive, X-Hop', 'X-Hop': '1', 'X-End': 'kept' });
      res.end('body');
    });
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      const answer = await http2Get(session, '/hop');
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), 'body');
      assert.equal(answer.headers['x-end'], 'kept');
      for (const name of ['connection', 'keep-alive', 'x-hop']) assert.equal(answer.headers[name], undefined, name);
      assert.match(String(answer.headers['x-request-id']), /\S/);
    } finally {
      session.close();
    }
  });

  it('frames a request body HTTP/2 gives no length to, for any method: nothing runs into the next request (smuggling)', async () => {
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    const bodies: string[] = [];
    origin.handle((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        bodies.push(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
        res.end('ok');
      });
    });
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST']) {
        const stream = session.request({ ':method': method, ':path': `/body-${method}` }, { endStream: false });
        stream.end(smuggled);
        const [response] = (await once(stream, 'response')) as [Record<string, unknown>];
        stream.resume();
        await once(stream, 'end');
        assert.equal(response[':status'], 200, method);
      }
    } finally {
      session.close();
    }
    // Each method's body arrived as its body; no request was read out of one.
    assert.deepEqual(origin.requests.filter((r) => r.url === '/smuggled'), []);
    for (const method of ['GET', 'DELETE', 'OPTIONS', 'POST']) assert.ok(bodies.includes(`${method} /body-${method} ${smuggled}`), `${method}: ${bodies.join(' | ')}`);
  });

  it('frames a chunked DELETE over HTTP/1.1 too (http-proxy-3 would send it as Content-Length: 0)', async () => {
    const bodies: string[] = [];
    origin.handle((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString());
        res.end('ok');
      });
    });
    const raw = await sendRaw(Number(proxy.url.port), 'DELETE /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\nGET /smuggled HTTP/1.1\r\n\r\n\r\n0\r\n\r\n', 500);
    assert.match(raw, /^HTTP\/1\.1 200/);
    assert.deepEqual(bodies, ['GET /smuggled HTTP/1.1\r\n\r\n']);
    assert.deepEqual(origin.requests.filter((r) => r.url === '/smuggled'), []);
  });

  it('answers an HTTP/2 client whatever head the origin sends: repeated single-value fields, statuses HTTP/2 has not, trailers, a 204 with a length', async () => {
    origin.handle((req, res) => {
      const socket = req.socket;
      const raw = (head: string, body = '') => socket.end(`HTTP/1.1 ${head}\r\n${body}`);
      if (req.url === '/twice') raw('200 OK\r\nX-Content-Type-Options: nosniff\r\nX-Content-Type-Options: nosniff\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\nContent-Length: 2\r\nConnection: close\r\n', 'ok');
      else if (req.url === '/999') raw('999 Odd\r\nContent-Length: 2\r\nConnection: close\r\n', 'ok');
      else if (req.url === '/204') raw('204 No Content\r\nContent-Length: 5\r\nConnection: close\r\n');
      else if (req.url === '/trailers') {
        res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
        res.write('body');
        res.addTrailers({ 'X-Checksum': 'abc123' });
        res.end();
      }
    });
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      const twice = await http2Get(session, '/twice');
      assert.equal(twice.status, 200);
      assert.equal(twice.headers['x-content-type-options'], 'nosniff');
      assert.equal(twice.headers['content-type'], 'text/plain', 'the first of a repeated single-value field');
      assert.equal(twice.body.toString(), 'ok');
      const odd = await http2Get(session, '/999');
      assert.equal(odd.status, 502, 'no final status outside 200–599 in HTTP/2');
      const empty = await http2Get(session, '/204');
      assert.equal(empty.status, 204);
      assert.equal(empty.headers['content-length'], undefined);
      const stream = session.request({ ':path': '/trailers' });
      const trailers = once(stream, 'trailers') as Promise<[Record<string, unknown>]>;
      stream.resume();
      assert.equal((await trailers)[0]['x-checksum'], 'abc123');
      // The process is alive and the connection usable.
      assert.equal((await http2Get(session, '/.slimproxy/health')).status, 200);
    } finally {
      session.close();
    }
  });

  it('refuses CONNECT over HTTP/2 with 405 (a 2xx would open a tunnel)', async () => {
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      const stream = session.request({ ':method': 'CONNECT', ':authority': 'elsewhere.example:443' });
      const [response] = (await once(stream, 'response')) as [Record<string, unknown>];
      assert.equal(response[':status'], 405);
      stream.destroy();
    } finally {
      session.close();
    }
  });

  it(':authority wins over a host field that disagrees', async () => {
    origin.handle((_req, res) => res.end('ok'));
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      await http2Get(session, '/authority', { ':authority': secure.host, host: 'forged.example' });
    } finally {
      session.close();
    }
    const seen = origin.requests.findLast((request) => request.url === '/authority');
    assert.equal(seen?.headers['x-forwarded-host'], secure.host);
  });

  it('aborts the origin request when an HTTP/2 client cancels its stream (not left to the origin timeout)', async () => {
    let originGone: () => void = () => undefined;
    const gone = new Promise<void>((resolve) => (originGone = resolve));
    origin.handle((req) => req.socket.once('close', () => originGone()));
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    const stream = session.request({ ':path': '/hang' });
    await until(() => origin.requests.some((request) => request.url === '/hang'), () => 'the origin asked');
    stream.close(constants.NGHTTP2_CANCEL);
    await gone;
    session.close();
  });

  it('resets a stream whose client reads nothing for the idle timeout, while its other streams and a slow origin go on', async () => {
    const big = Buffer.alloc(8 << 20, 7);
    origin.handle((req, res) => {
      if (req.url === '/slow') {
        // Longer than the idle timeout (1 s), well within the origin timeout.
        setTimeout(() => res.end('slow but fine'), 2500);
        return;
      }
      res.end(big);
    });
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      // A stream never read, while PINGs keep the connection busy.
      const stalled = session.request({ ':path': '/big' });
      stalled.pause();
      const pinging = setInterval(() => session.ping(() => undefined), 200);
      const closed = once(stalled, 'close');
      const slow = http2Get(session, '/slow');
      await closed;
      clearInterval(pinging);
      assert.equal(stalled.rstCode, constants.NGHTTP2_CANCEL);
      const answer = await slow;
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), 'slow but fine');
      await until(() => proxy.logs.some((line) => String(line.msg).includes('HTTP/2 stream reset')), () => 'the drop logged');
    } finally {
      session.close();
    }
  });

  it('drops a connection that never completes its TLS handshake', async () => {
    const socket = netConnect(Number(secure.port), '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    await once(socket, 'close');
  });

  it('passes a WebSocket upgrade over HTTP/1.1 on the TLS listener', async () => {
    await assertUpgradePasses(origin, new URL('/ws', secure), certificate.cert);
  });

  it('takes a new certificate on SIGHUP while a long response continues; a bad one is refused and logged', async () => {
    const fingerprint = (pem: Buffer) => new X509Certificate(pem).fingerprint256;
    const served = async (): Promise<string> => {
      const socket = connectTls({ host: '127.0.0.1', port: Number(secure.port), servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2'] });
      await once(socket, 'secureConnect');
      const peer = socket.getPeerX509Certificate();
      socket.destroy();
      return peer?.fingerprint256 ?? '';
    };
    assert.equal(await served(), fingerprint(certificate.cert));

    // A long response: the origin sends half, and the rest when told to.
    let finish: () => void = () => undefined;
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(2 << 20) });
      res.write(Buffer.alloc(1 << 20, 1));
      finish = () => res.end(Buffer.alloc(1 << 20, 2));
    });
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    const stream = session.request({ ':path': '/long.bin' });
    const chunks: Buffer[] = [];
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    await until(() => received >= 1 << 20, () => `half the body (${received} bytes)`);

    const renewed = selfSignedCertificate();
    copyFileSync(renewed.certPath, certificate.certPath);
    copyFileSync(renewed.keyPath, certificate.keyPath);
    process.kill(process.pid, 'SIGHUP');
    await until(() => proxy.logs.some((line) => line.msg === 'TLS certificate reloaded: new connections get it'), () => 'the reload logged');
    assert.equal(await served(), fingerprint(renewed.cert), 'new connections get the new certificate');

    finish();
    await once(stream, 'end');
    session.close();
    const body = Buffer.concat(chunks);
    assert.equal(body.length, 2 << 20, 'the response begun before the reload ends whole');
    assert.equal(body[(2 << 20) - 1], 2);

    writeFileSync(certificate.keyPath, 'not a key');
    process.kill(process.pid, 'SIGHUP');
    await until(() => proxy.logs.some((line) => line.msg === 'TLS certificate not reloaded: the listener keeps the one it had'), () => 'the refusal logged');
    const refusal = proxy.logs.findLast((line) => line.msg === 'TLS certificate not reloaded: the listener keeps the one it had');
    assert.match(String(refusal?.error), /<listen tls-key>: .* holds no PEM private key/);
    assert.equal(await served(), fingerprint(renewed.cert), 'the listener keeps the certificate it had');
  });
});

describe('SIGHUP without an HTTPS listener', () => {
  it('is logged and changes nothing (HUP means reload to an operator; Node would end the process)', async () => {
    const proxy = await startProxy({ origin: 'embedded' });
    try {
      process.kill(process.pid, 'SIGHUP');
      await until(() => proxy.logs.some((line) => String(line.msg).startsWith('SIGHUP: no listener has a certificate')), () => 'the SIGHUP logged');
      assert.equal((await fetchRaw(new URL('/.slimproxy/health', proxy.url))).status, 200);
    } finally {
      await proxy.stop();
    }
  });
});

describe('SIGHUP while the proxy stops', () => {
  it('does not end the process: the response in flight finishes and the stop ends with exit code 0', async () => {
    let finish: () => void = () => undefined;
    const origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Length': '10' });
      res.write('01234');
      finish = () => res.end('56789');
    });
    const proxy = await spawnProxy(writeTempConfig(testConfigXml({ origin: origin.url })));
    try {
      const req = httpRequest(new URL('/slow', proxy.url), { agent: false });
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      await until(() => chunks.length > 0, () => 'the first half');
      proxy.child.kill('SIGTERM');
      await waitForLog(proxy, (line) => String(line.msg).startsWith('stopping'));
      proxy.child.kill('SIGHUP');
      await waitForLog(proxy, (line) => line.msg === 'SIGHUP while stopping: nothing to reload');
      finish();
      await once(res, 'end');
      assert.equal(Buffer.concat(chunks).toString(), '0123456789');
      assert.equal(await proxy.exited, 0);
    } finally {
      proxy.child.kill('SIGKILL');
      await origin.close();
    }
  });
});
