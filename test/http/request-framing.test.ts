import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const SMUGGLED = 'GET /inner?SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n';

/**
 * Found by a hostile review (2026-12-07): the proxy framed a forwarded body from `req.headers`, Node's parser from
 * the bytes on the wire. Where they differed (a `Content-Length` named in `Connection`, or after the 2000 fields Node
 * keeps by default), a GET went to the origin without a length and its body was read there as a second request on
 * the pooled connection: answered to another visitor, kept as another page.
 */
describe('a request body reaches the origin framed as the parser read it: never a second request', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const bodies: { url: string; length: string | undefined; body: string }[] = [];
  before(async () => {
    origin = await startOrigin((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        bodies.push({ url: req.url ?? '', length: req.headers['content-length'], body: Buffer.concat(chunks).toString() });
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
        res.end('ok');
      });
    });
    proxy = await startProxy({ origin: origin.url });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  const attacks: [string, string][] = [
    ['Content-Length named in Connection', `GET /outer HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Content-Length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
    ['Content-Length after 2000 fields', `GET /outer HTTP/1.1\r\nHost: x\r\n${'a: b\r\n'.repeat(2001)}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
    ['Transfer-Encoding named in Connection', `GET /outer HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`],
  ];
  it('a body in a transfer coding besides chunked gets 501, and never reaches the origin', async () => {
    const before = origin.requests.length;
    const answer = await sendRaw(proxy.port, 'POST /coded HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 501 /);
    assert.equal(origin.requests.length, before);
  });

  for (const [name, attack] of attacks) {
    it(`${name}: the origin gets one request, with the body and its length`, async () => {
      const before = origin.requests.length;
      const answer = await sendRaw(proxy.port, attack, 500);
      assert.match(answer, /^HTTP\/1\.1 200 /);
      // The pooled connection's next request comes from another client: it must be what that client asked for.
      const next = await sendRaw(proxy.port, 'GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(next, /^HTTP\/1\.1 200 /);
      assert.deepEqual(origin.requests.slice(before).map((r) => r.url), ['/outer', '/next']);
      const outer = bodies.find((b) => b.url === '/outer');
      assert.equal(outer?.body, SMUGGLED, 'the body went as a body');
      bodies.length = 0;
    });
  }
});
