import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { assertUpgradePasses } from '../support/upgrade.js';
import { fetchRaw, sendRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('transparent pass-through', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin();
    proxy = await startProxy({ origin: origin.url });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('passes every method, path, body, status and reason phrase both ways', async () => {
    origin.handle(async (req, res) => {
      const body = await bodyOf(req);
      res.writeHead(207, 'Quite Multi', { 'Content-Type': 'application/octet-stream' });
      res.end(Buffer.concat([Buffer.from(`${req.method} ${req.url} `), body]));
    });
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND']) {
      const body = method === 'GET' ? undefined : Buffer.from([0, 1, 2, 255, 13, 10]);
      const res = await fetchRaw(new URL('/some/path?q=1&q=2', proxy.url), { method, body });
      assert.equal(res.status, 207, method);
      assert.equal(res.statusMessage, 'Quite Multi');
      assert.deepEqual(res.body, Buffer.concat([Buffer.from(`${method} /some/path?q=1&q=2 `), body ?? Buffer.alloc(0)]));
    }
    const head = await fetchRaw(new URL('/h', proxy.url), { method: 'HEAD' });
    assert.equal(head.status, 207);
    assert.equal(head.body.length, 0);
    assert.equal(origin.requests.at(-1)?.method, 'HEAD');
  });

  it('keeps response headers (repeats, spelling) and drops hop-by-hop ones', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, [
        'Set-Cookie', 'a=1; Path=/',
        'Set-Cookie', 'b=2; Path=/',
        'X-Custom', 'kept',
        'Connection', 'X-Hop',
        'X-Hop', 'dropped',
        'Cache-Control', 'max-age=60',
        'Content-Length', '2',
      ]);
      res.end('ok');
    });
    const res = await fetchRaw(new URL('/headers', proxy.url));
    assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
    assert.equal(res.headers['x-custom'], 'kept');
    assert.equal(res.headers['x-hop'], undefined);
    assert.equal(res.headers['cache-control'], 'max-age=60');
    assert.ok(res.rawHeaders.includes('X-Custom'), 'header spelling kept');
  });

  it('passes trailers of a chunked response', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
      res.write('part one, ');
      res.addTrailers({ 'X-Checksum': 'abc123' });
      res.end('part two');
    });
    const res = await fetchRaw(new URL('/trailers', proxy.url), { headers: { TE: 'trailers' } });
    assert.equal(res.body.toString(), 'part one, part two');
    assert.equal(res.trailers['x-checksum'], 'abc123');
    assert.equal(origin.requests.at(-1)?.headers.te, 'trailers');
  });

  it('adds X-Forwarded-* and sends the origin its own Host by default', async () => {
    origin.handle((_req, res) => res.end());
    await fetchRaw(new URL('/fwd', proxy.url), {
      headers: { Host: 'www.legacy.example', 'X-Forwarded-For': '203.0.113.9', Connection: 'keep-alive, X-Private', 'X-Private': 's', 'Keep-Alive': 'timeout=9', 'Proxy-Connection': 'keep-alive' },
    });
    const seen = origin.requests.at(-1)!.headers;
    assert.equal(seen.host, `127.0.0.1:${origin.port}`);
    assert.equal(seen['x-forwarded-for'], '203.0.113.9,127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], 'www.legacy.example');
    assert.equal(seen['x-private'], undefined);
    assert.equal(seen['keep-alive'], undefined);
    assert.equal(seen['proxy-connection'], undefined);
  });

  it('keeps the client Host with <origin host="client">', async () => {
    const clientHost = await startProxy({ origin: origin.url, originAttributes: 'host="client"' });
    try {
      origin.handle((_req, res) => res.end());
      await fetchRaw(new URL('/host', clientHost.url), { headers: { Host: 'www.legacy.example' } });
      assert.equal(origin.requests.at(-1)?.headers.host, 'www.legacy.example');
    } finally {
      await clientHost.stop();
    }
  });

  it('streams a response: the client reads the start before the origin has sent the end', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    origin.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.write('first ');
      void released.then(() => res.end('second'));
    });
    const req = httpRequest(new URL('/slow', proxy.url), { agent: false });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    const [first] = (await once(res, 'data')) as [Buffer];
    assert.equal(first.toString(), 'first ', 'first part arrived while the origin still holds the rest');
    release();
    assert.equal((await bodyOf(res)).toString(), 'second');
  });

  it('streams a request body: the origin reads the start before the client has sent the end', async () => {
    let originGotStart!: () => void;
    const startArrived = new Promise<void>((resolve) => (originGotStart = resolve));
    origin.handle(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) {
        chunks.push(chunk as Buffer);
        if (chunks.length === 1) originGotStart();
      }
      res.end(Buffer.concat(chunks));
    });
    const req = httpRequest(new URL('/upload', proxy.url), { method: 'POST', agent: false });
    req.write('start ');
    await startArrived;
    req.end('end');
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    assert.equal((await bodyOf(res)).toString(), 'start end');
  });

  it('answers 502 at once when the origin switches protocols (101) on a request that asked for no upgrade', async () => {
    origin.handle((req) => req.socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGARBAGE'));
    const res = await fetchRaw(new URL('/switch', proxy.url));
    assert.equal(res.status, 502);
    assert.match(res.body.toString(), /invalid HTTP response/);
  });

  it('passes WebSocket upgrades through', async () => {
    await assertUpgradePasses(origin, new URL('/ws', proxy.url));
  });

  it('answers /.slimproxy/health itself and never forwards it', async () => {
    const before = origin.requests.length;
    const res = await fetchRaw(new URL('/.slimproxy/health', proxy.url));
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body.toString()), { status: 'ok' });
    assert.equal(origin.requests.length, before);
  });

  it('answers the health check asked for in absolute form too (hostile review: it reached the origin)', async () => {
    const before = origin.requests.length;
    const raw = await sendRaw(proxy.port, 'GET http://x/.slimproxy/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 200 [^]*\{"status":"ok"\}/);
    assert.equal(origin.requests.length, before);
  });

  it('logs one JSON line per request with method, path, status, bytes and duration', async () => {
    origin.handle((_req, res) => res.end('12345'));
    await fetchRaw(new URL('/logged?x=1', proxy.url));
    const line = proxy.logs.findLast((l) => l.msg === 'request' && l.path === '/logged?x=1');
    assert.ok(line, 'request line present');
    assert.equal(line.method, 'GET');
    assert.equal(line.status, 200);
    assert.equal(line.bytes, 5);
    assert.equal(typeof line.ms, 'number');
    assert.equal(line.level, 'info');
  });
});
