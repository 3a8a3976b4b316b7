import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';

export interface ClientResponse {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly trailers: NodeJS.Dict<string>;
  readonly body: Buffer;
  /** False when the connection ended before the body was complete. */
  readonly complete: boolean;
}

export interface ClientRequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: Buffer | string | Readable;
  /** Send on a fresh connection (no keep-alive pool). */
  readonly agent?: false;
}

/** One HTTP request with Node's client, the whole body collected. Never throws for an aborted body: see `complete`. */
export function fetchRaw(url: URL | string, options: ClientRequestOptions = {}): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const body = options.body;
    const headers = { ...options.headers };
    // Node frames DELETE/OPTIONS bodies only when told the length.
    if (typeof body === 'string' || Buffer.isBuffer(body)) headers['Content-Length'] ??= String(Buffer.byteLength(body));
    const req = httpRequest(url, { method: options.method ?? 'GET', headers, agent: options.agent ?? false });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let finished = false;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      const settle = () => {
        if (finished) return;
        finished = true;
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          trailers: res.trailers,
          body: Buffer.concat(chunks),
          complete: res.complete,
        });
      };
      res.on('end', settle);
      res.on('error', settle);
      res.on('close', settle);
    });
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/** Writes `raw` bytes on a new TCP connection and returns everything the server sent until it closed. */
export function sendRaw(port: number, raw: string, idleMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(idleMs, () => socket.end());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(raw);
  });
}
