import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { selfSignedCertificate, tlsListener } from '../support/certificates.js';
import { sendRaw } from '../support/client.js';
import { CHROME_UA } from '../support/marks.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const MARK = 'm=ic,webp,avif,zorro';
const HERO = '</img/hero.jpg>; rel=preload; as=image';
const STYLE = '</site.css>; rel=preload; as=style';
/** Node cannot write this link-value in a 103 (white space inside a quoted value); a 200 carries it. */
const SRCSET = '</img/a.jpg>; rel=preload; as=image; imagesrcset="/img/a.jpg 1x, /img/a@2x.jpg 2x"';
const PAGE = '<!doctype html><link rel=stylesheet href=/site.css><img src="/img/hero.jpg"><img srcset="/img/a.jpg 1x, /img/a@2x.jpg 2x">';

interface Exchange {
  readonly hints: { status: number; link: string | string[] | undefined }[];
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A GET or HEAD over HTTP/1.1 that records the 1xx responses before the final one. */
function get(url: URL, method = 'GET'): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const hints: Exchange['hints'] = [];
    const req = request(url, { method, agent: false, headers: { 'user-agent': CHROME_UA } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ hints, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
    });
    req.on('information', (info) => hints.push({ status: info.statusCode, link: info.headers.link }));
    req.on('error', reject);
    req.end();
  });
}

describe('Link preloads and 103 Early Hints: the image the page preloads is the image it shows', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const certificate = selfSignedCertificate();

  before(async () => {
    origin = await startOrigin(pages);
    proxy = await startProxy({
      origin: origin.url,
      elements: `<image-compression/>${tlsListener(certificate)}`,
    });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  /** The origin: a page with Link preloads and a 103 before it, a script with the same 103. */
  function pages(req: IncomingMessage, res: ServerResponse): void {
      if (req.url === '/page.html' || req.url === '/script.js') {
        // Written on the socket as an origin would: Node's own writeEarlyHints refuses the imagesrcset value.
        res.socket?.write(`HTTP/1.1 103 Early Hints\r\nLink: ${HERO}, ${STYLE}\r\nLink: ${SRCSET}\r\nX-Other: 1\r\n\r\n`);
      }
      if (req.url === '/script.js') {
        res.writeHead(200, { 'Content-Type': 'application/javascript' });
        res.end('void 0;');
        return;
      }
      if (String(req.headers['if-none-match']).replace(/^W\//, '') === '"p1"') {
        res.writeHead(304, { ETag: '"p1"', Link: [HERO, SRCSET] });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html', ETag: '"p1"', 'Cache-Control': 'max-age=0', Link: [`${HERO}, ${STYLE}`, SRCSET] });
      res.end(req.method === 'HEAD' ? undefined : PAGE);
  }

  it("marks a page's Link preloads of its images as the <img> it preloads for, and nothing else", async () => {
    const page = await get(new URL('/page.html', proxy.url));
    assert.equal(page.status, 200);
    assert.match(page.body, new RegExp(`<img src="/img/hero\\.jpg\\?${MARK}">`));
    assert.equal(page.headers.link, `</img/hero.jpg?${MARK}>; rel=preload; as=image, ${STYLE}, </img/a.jpg?${MARK}>; rel=preload; as=image; imagesrcset="/img/a.jpg?${MARK} 1x, /img/a@2x.jpg?${MARK} 2x"`);
  });

  it('forwards the 103 with its image preloads marked; a link-value Node cannot write is left out', async () => {
    const page = await get(new URL('/page.html', proxy.url));
    assert.deepEqual(page.hints, [{ status: 103, link: `</img/hero.jpg?${MARK}>; rel=preload; as=image, ${STYLE}` }]);
    assert.equal(page.status, 200);
  });

  it('marks the Link of a kept page revalidated by a 304, of a HEAD, and of a 304 to the client', async () => {
    await get(new URL('/page.html', proxy.url));
    const kept = await get(new URL('/page.html', proxy.url));
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], '"p1"', 'the kept page was revalidated');
    assert.equal(kept.headers.link, `</img/hero.jpg?${MARK}>; rel=preload; as=image, </img/a.jpg?${MARK}>; rel=preload; as=image; imagesrcset="/img/a.jpg?${MARK} 1x, /img/a@2x.jpg?${MARK} 2x"`);
    const head = await get(new URL('/page.html', proxy.url), 'HEAD');
    assert.match(String(head.headers.link), new RegExp(`^</img/hero\\.jpg\\?${MARK}>`));
    const conditional = await new Promise<{ status: number | undefined; link: string | string[] | undefined }>((resolve, reject) => {
      request(new URL('/page.html', proxy.url), { agent: false, headers: { 'user-agent': CHROME_UA, 'if-none-match': 'W/"p1"' } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode, link: res.headers.link });
      })
        .on('error', reject)
        .end();
    });
    assert.equal(conditional.status, 304);
    assert.match(String(conditional.link), new RegExp(`^</img/hero\\.jpg\\?${MARK}>`));
  });

  it('forwards the 103 of a response that is no page (the hint came before anyone knew)', async () => {
    const script = await get(new URL('/script.js', proxy.url));
    assert.deepEqual(script.hints, [{ status: 103, link: `</img/hero.jpg?${MARK}>; rel=preload; as=image, ${STYLE}` }]);
    assert.equal(script.body, 'void 0;');
  });

  it("a link-value that would make Node's check backtrack for minutes is left out, and the proxy answers (review 2)", async () => {
    const slow = `</img/slow.jpg>${'; a=b=c'.repeat(22)}; x="y z"`;
    origin.handle((req, res) => {
      res.socket?.write(`HTTP/1.1 103 Early Hints\r\nLink: ${slow}, ${HERO}\r\n\r\n`);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`${req.url}`);
    });
    try {
      const answer = await get(new URL('/redos', proxy.url));
      assert.deepEqual(answer.hints, [{ status: 103, link: `</img/hero.jpg?${MARK}>; rel=preload; as=image` }]);
      assert.equal(answer.body, '/redos');
    } finally {
      origin.handle(pages);
    }
  });

  it('sends no 103 to an HTTP/1.0 client (it cannot read one)', async () => {
    const raw = await sendRaw(proxy.port, `GET /page.html HTTP/1.0\r\nHost: localhost\r\nUser-Agent: ${CHROME_UA}\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(raw, /103/);
  });

  it('sends the 103 over HTTP/2 too', async () => {
    const secure = proxy.running.urls[1]!;
    const session = connectHttp2(secure.origin, { ca: certificate.cert });
    try {
      const informational: unknown[] = [];
      const final = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const stream = session.request({ ':path': '/page.html', 'user-agent': CHROME_UA });
        stream.on('headers', (headers) => informational.push([headers[':status'], headers.link]));
        stream.on('response', (headers) => resolve(headers));
        stream.on('error', reject);
        stream.resume();
      });
      assert.deepEqual(informational, [[103, `</img/hero.jpg?${MARK}>; rel=preload; as=image, ${STYLE}`]]);
      assert.equal(final[':status'], 200);
      assert.match(String(final.link), new RegExp(`^</img/hero\\.jpg\\?${MARK}>`));
    } finally {
      session.close();
    }
  });
});
