import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startRawOrigin, type RawOrigin } from '../support/origin.js';
import { fetchRaw } from '../support/client.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const jpeg = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const DISPOSITION = Buffer.from('attachment; filename="caf\u00e9.jpg"', 'latin1');

/** The raw head of a response from the proxy: header values as bytes. */
function rawHead(port: number, path: string): Promise<{ status: number; head: Buffer; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.write(`GET ${path} HTTP/1.1\r\nHost: site\r\nAccept: image/webp,*/*\r\nConnection: close\r\n\r\n`);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no response head (${all.length} bytes)`));
      resolve({ status: Number(all.subarray(9, 12).toString()), head: all.subarray(0, end), body: all.subarray(end + 4) });
    });
  });
}

/** Found by the hostile review of issue 16: one such response ended the proxy process. */
describe('origin header values pass byte for byte, whatever their order (Latin-1 Content-Disposition after Content-Length)', () => {
  let origin: RawOrigin;
  let proxy: TestProxy;
  before(async () => {
    // As nginx and Apache write them: Content-Length before Content-Disposition, the filename in Latin-1.
    origin = await startRawOrigin((socket, path) => {
      const body = path.startsWith('/photo') ? jpeg : path.startsWith('/page') ? Buffer.from('<p><img src="/photo.jpg"></p>') : Buffer.from('not an image at all');
      const type = path.startsWith('/photo') || path.startsWith('/fake') ? 'image/jpeg' : path.startsWith('/page') ? 'text/html' : 'application/octet-stream';
      socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nCache-Control: max-age=600\r\nContent-Disposition: `), DISPOSITION, Buffer.from('\r\nConnection: close\r\n\r\n'), body]));
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  for (const path of ['/file.bin', '/fake.jpg?m=ic', '/fake.jpg', '/photo.jpg?m=ic,webp', '/photo.jpg?m=ic,webp', '/photo.jpg', '/page.html']) {
    it(`${path}: 200, the Content-Disposition bytes as sent`, async () => {
      const { status, head } = await rawHead(proxy.port, path);
      assert.equal(status, 200);
      const line = head.toString('latin1').split('\r\n').find((field) => /^content-disposition:/i.test(field));
      assert.ok(line, 'the field is passed on');
      assert.ok(Buffer.from(line.slice(line.indexOf(':') + 1).trim(), 'latin1').equals(DISPOSITION), JSON.stringify(line));
    });
  }

  it('the proxy is still up', async () => {
    assert.equal((await fetchRaw(new URL('/.slimproxy/health', proxy.url))).status, 200);
  });
});
