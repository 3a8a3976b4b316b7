import { Agent as HttpAgent, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { OriginTimeoutError } from './origin-failure.js';

export interface FetchedResponse {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /** The whole body, or `undefined` when it was larger than allowed (then `tooLarge`). */
  readonly body: Buffer | undefined;
  readonly tooLarge: boolean;
}

/**
 * A whole response from the origin, for the image route (which needs the original's bytes, not a stream).
 * Bodies above `maxBytes` are not kept: such an image is passed through instead.
 */
export class OriginFetcher {
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(
    private readonly target: URL,
    private readonly timeoutMs: number,
    /** Hears of every body chunk the origin sends (for the byte counters). */
    private readonly onBody: (bytes: number) => void = () => undefined,
  ) {
    const options = { keepAlive: true, maxFreeSockets: 32, timeout: 4000 };
    this.agent = target.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
  }

  fetch(path: string, headers: IncomingHttpHeaders, maxBytes: number): Promise<FetchedResponse> {
    const url = new URL(this.target);
    const request = this.target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          path: (url.pathname.replace(/\/$/, '') + path) || '/',
          method: 'GET',
          // The origin's own name, unless the caller names the virtual host (`<origin host="client">`).
          headers: { ...headers, host: headers.host ?? url.host },
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          let tooLarge = false;
          res.on('data', (chunk: Buffer) => {
            this.onBody(chunk.length);
            size += chunk.length;
            if (size <= maxBytes) {
              chunks.push(chunk);
              return;
            }
            // Too large to keep: stop downloading now, the caller forwards the request as it is instead.
            tooLarge = true;
            chunks.length = 0;
            res.destroy();
            resolve({ status: res.statusCode ?? 502, statusMessage: res.statusMessage ?? '', headers: res.headers, rawHeaders: res.rawHeaders, body: undefined, tooLarge });
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 502,
              statusMessage: res.statusMessage ?? '',
              headers: res.headers,
              rawHeaders: res.rawHeaders,
              body: tooLarge ? undefined : Buffer.concat(chunks),
              tooLarge,
            }),
          );
          res.on('error', (err) => (tooLarge ? undefined : reject(err)));
          res.on('aborted', () => tooLarge || reject(Object.assign(new Error('origin aborted the response'), { code: 'ECONNRESET' })));
        },
      );
      req.setTimeout(this.timeoutMs, () => req.destroy(new OriginTimeoutError(this.timeoutMs)));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
