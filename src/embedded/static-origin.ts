import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import send from 'send';

/** The bundled demo site, served when the config says `<origin url="embedded"/>`. */
export const DEMO_SITE_ROOT = fileURLToPath(new URL('../../fixtures/site/', import.meta.url));

export interface StaticOrigin {
  readonly url: URL;
  close(): Promise<void>;
}

/**
 * A small static web server on a loopback port, standing in for a real site: `send` gives it the ETag,
 * Last-Modified, conditional requests and ranges of a real web server.
 */
export async function startStaticOrigin(root: string = DEMO_SITE_ROOT): Promise<StaticOrigin> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
      return;
    }
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    send(req, pathname, { root, index: ['index.html'], dotfiles: 'deny' })
      .on('error', (err: { status?: number; statusCode?: number }) => {
        const status = err.status ?? err.statusCode ?? 500;
        res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${status}\n`);
      })
      .pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
