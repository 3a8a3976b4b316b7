import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect as connectHttp2 } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { once } from 'node:events';
import { connect as connectTls } from 'node:tls';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { launchChromium } from '../support/browser.js';
import { selfSignedCertificate, type TestCertificate } from '../support/certificates.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { until } from '../support/until.js';
import { assertUpgradePasses } from '../support/upgrade.js';

const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const PAGES = ['/', '/about.html', '/gallery.html', '/products/index.html', '/products/specs.html'];

/** A TLS listener next to the plain one (the test config's), with this certificate. */
function tlsListener(certificate: TestCertificate, attributes = ''): string {
  return `<listen address="127.0.0.1" port="0" tls-cert="${certificate.certPath}" tls-key="${certificate.keyPath}" ${attributes}/>`;
}

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
    proxy = await startProxy({ origin: origin.url, elements: tlsListener(certificate) });
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
