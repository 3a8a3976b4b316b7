import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { TestOrigin } from './origin.js';

/**
 * Asserts that a WebSocket upgrade passes through the proxy at `url`: the origin answers `101` naming the path it
 * was asked for and echoes what it gets; the client sees both. `ca`: the certificate to trust for an https URL.
 */
export async function assertUpgradePasses(origin: TestOrigin, url: URL, ca?: Buffer): Promise<void> {
  origin.server.once('upgrade', (req: IncomingMessage, socket: Socket) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Path: ${req.url}\r\n\r\n`);
    socket.on('data', (data: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), data])));
  });
  const headers = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' };
  const req = url.protocol === 'https:' ? httpsRequest(url, { agent: false, headers, ...(ca ? { ca } : {}) }) : httpRequest(url, { agent: false, headers });
  req.end();
  const [res, socket] = (await once(req, 'upgrade')) as [IncomingMessage, Socket];
  assert.equal(res.statusCode, 101);
  assert.equal(res.headers['x-path'], url.pathname);
  socket.write('hello');
  const [echo] = (await once(socket, 'data')) as [Buffer];
  assert.equal(echo.toString(), 'echo:hello');
  socket.destroy();
}
