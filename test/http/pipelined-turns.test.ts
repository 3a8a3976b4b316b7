import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_PIPELINED } from '../../src/http/pipeline-turns.js';
import { sendRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Found by a hostile review (2026-12-07): Node emits every pipelined request at once, and the proxy forwarded them
 * all at once: one write of 3,000 GETs opened 3,000 origin connections (EMFILE for everyone else), and pipelined
 * POSTs reached the origin together.
 */
describe('pipelined requests of one connection are handled one at a time', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let inFlight = 0;
  let most = 0;
  before(async () => {
    origin = await startOrigin((req, res) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      req.resume();
      req.on('end', () => {
        // Answered a little later: a proxy that forwards the next request meanwhile is caught at it.
        setTimeout(() => {
          inFlight -= 1;
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(req.url ?? '') });
          res.end(req.url);
        }, 30);
      });
    });
    proxy = await startProxy({ origin: origin.url });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('twenty GETs and POSTs in one write: the origin sees one at a time, the answers come in order', async () => {
    most = 0;
    const requests = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? `GET /r${i} HTTP/1.1\r\nHost: x\r\n\r\n` : `POST /r${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc`));
    const answer = await sendRaw(proxy.port, requests.join('') + 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const bodies = answer.split('HTTP/1.1 200 OK').slice(1).map((response) => response.slice(response.indexOf('\r\n\r\n') + 4));
    assert.deepEqual(bodies, [...Array.from({ length: 20 }, (_, i) => `/r${i}`), '/last']);
    assert.equal(most, 1, 'never two requests of the connection at the origin at once');
  });

  it(`a connection with more than ${MAX_PIPELINED} requests waiting is closed; the origin never sees the rest`, async () => {
    const before = origin.requests.length;
    const answer = await sendRaw(proxy.port, 'GET /r HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(MAX_PIPELINED * 4));
    const answered = answer.split('HTTP/1.1 200 OK').length - 1;
    assert.ok(answered <= MAX_PIPELINED + 1, `${answered} answered`);
    assert.ok(origin.requests.length - before <= MAX_PIPELINED + 1, `${origin.requests.length - before} at the origin`);
    // The proxy itself is fine.
    assert.match(await sendRaw(proxy.port, 'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 OK/);
  });
});
