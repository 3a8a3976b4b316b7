import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/** What a client gets on a raw connection within `ms`: the bytes, and whether the connection was closed. */
function upgradeRequest(port: number, path: string, ms: number, then?: (socket: Socket) => void, extra = ''): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!answered && text.includes('\r\n\r\n')) {
        answered = true;
        then?.(socket);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${UPGRADE}${extra}\r\n`);
    setTimeout(() => {
      socket.destroy();
      resolve({ text, closed });
    }, ms);
  });
}

/**
 * Found by a hostile review (2026-12-07): an upgrade the origin never answered was waited for without end (50 of
 * them held 100 sockets after 75 s), where a plain request gets a 504 after `<origin timeout>`.
 */
describe('WebSocket upgrades: the origin answers within its timeout, the tunnel after it has none of ours', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin();
    origin.server.on('upgrade', (req, socket) => {
      socket.on('error', () => undefined);
      if (req.url === '/never') return;
      if (req.url === '/stall') {
        // Not an upgrade: a response whose body stops coming.
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
        return;
      }
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      // An echo that stays quiet until spoken to.
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    });
    proxy = await startProxy({ origin: origin.url, originAttributes: 'timeout="1"' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('an upgrade the origin never answers gets 504 after the origin timeout, and the connection is closed', async () => {
    const { text, closed } = await upgradeRequest(proxy.port, '/never', 2500);
    assert.match(text, /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    assert.ok(closed, 'closed');
  });

  it('a non-101 answer whose body stalls is cut after the origin timeout, like any response', async () => {
    const { text, closed } = await upgradeRequest(proxy.port, '/stall', 2500);
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.ok(closed, 'closed after the origin timeout');
  });

  it('an upgrade with a body is refused (400) and never reaches the origin (second review: smuggling)', async () => {
    const before = origin.requests.length;
    let upgrades = 0;
    origin.server.on('upgrade', () => (upgrades += 1));
    for (const extra of ['Content-Length: 40\r\n', 'Transfer-Encoding: chunked\r\n']) {
      const { text } = await upgradeRequest(proxy.port, '/chat', 300, undefined, extra);
      assert.match(text, /^HTTP\/1\.1 400 /, extra);
    }
    assert.equal(upgrades, 0);
    assert.equal(origin.requests.length, before);
  });

  it('an upgrade that has been through this proxy already gets 508 (Via, as plain requests)', async () => {
    await fetch(new URL('/plain', proxy.url));
    const via = String(origin.requests.at(-1)?.headers.via);
    assert.match(via, /slimproxy-/);
    const { text } = await upgradeRequest(proxy.port, '/chat', 300, undefined, `Via: ${via}\r\n`);
    assert.match(text, /^HTTP\/1\.1 508 /);
  });

  it('a WebSocket quiet for longer than the origin timeout stays open and still carries data', async () => {
    let echoed = '';
    const { text, closed } = await upgradeRequest(proxy.port, '/chat', 2500, (socket) => {
      setTimeout(() => {
        socket.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
        socket.write('still here');
      }, 1800);
    });
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.equal(closed, false);
    assert.equal(echoed, 'still here');
  });
});
