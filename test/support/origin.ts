import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
}

export type OriginHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestOrigin {
  readonly url: URL;
  readonly port: number;
  /** Every request the origin received, in order (recorded when its headers arrive). */
  readonly requests: RecordedRequest[];
  /** Every TCP connection the origin accepted (requests or not). */
  connections: number;
  readonly server: Server;
  handle(handler: OriginHandler): void;
  close(): Promise<void>;
}

/** A programmable origin on a loopback ephemeral port (or a given one, to come back after a "down" test). */
export async function startOrigin(handler?: OriginHandler, port = 0): Promise<TestOrigin> {
  let current: OriginHandler = handler ?? ((_req, res) => res.end('ok'));
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    current(req, res);
  });
  const origin: TestOrigin = {
    url: new URL('http://127.0.0.1/'),
    port: 0,
    requests,
    connections: 0,
    server,
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
  server.on('connection', (socket: Socket) => {
    origin.connections += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return Object.assign(origin, { url: new URL(`http://127.0.0.1:${bound}/`), port: bound });
}

/** An origin handler serving `files` by exact request target (`/a.svg` → its Content-Type and bytes), 404 otherwise. */
export function servingFiles(files: Readonly<Record<string, readonly [contentType: string, bytes: Buffer]>>, cacheControl = 'max-age=600'): OriginHandler {
  return (req, res) => {
    const file = files[req.url ?? ''];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': file[0], 'Cache-Control': cacheControl });
    res.end(file[1]);
  };
}

export interface RawOrigin {
  readonly url: URL;
  close(): Promise<void>;
}

/**
 * An origin that writes its answers byte by byte on the socket, for what Node's server would refuse to write (a
 * status line out of range, a trailer no one may send, a body cut short): `answer` gets the socket and the target
 * of the request that came first on it.
 */
export async function startRawOrigin(answer: (socket: Socket, target: string) => void): Promise<RawOrigin> {
  const server = createTcpServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (request: Buffer) => answer(socket, request.toString('latin1').split(' ')[1] ?? '/'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
