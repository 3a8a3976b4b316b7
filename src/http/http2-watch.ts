import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';

interface Watched {
  /** What waited to be sent at the last check, and since when that figure has not moved. */
  pending: number;
  since: number;
}

/**
 * The HTTP/2 side of a TLS listener, what ConnectionWatch is to HTTP/1.1: judged stream by stream, since one
 * connection carries many responses.
 * - A response whose client takes none of it for the idle timeout is reset (its memory, its lent store body, its
 *   origin request go with it); the others on the connection go on. A client sending PINGs or using other streams
 *   keeps no stalled stream alive by that.
 * - A connection with no stream at all for the idle timeout is closed (GOAWAY): a stream waiting for a slow origin
 *   is not idleness (`<origin timeout>` covers the origin).
 */
export class Http2Watch {
  readonly sessions = new Set<ServerHttp2Session>();
  private readonly responses = new Map<ServerResponse, Watched>();

  constructor(
    server: Http2SecureServer,
    private readonly idleTimeoutMs: number,
    /** Called once for a response none of which was taken for the idle timeout, before its stream is reset. */
    private readonly onStalled: (res: ServerResponse) => void,
  ) {
    server.on('session', (session: ServerHttp2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => session.destroy());
      session.setTimeout(idleTimeoutMs, () => {
        if (!this.busy(session)) session.close();
      });
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (req.httpVersionMajor !== 2) return;
      this.responses.set(res, { pending: 0, since: Date.now() });
      res.once('close', () => this.responses.delete(res));
    });
    setInterval(() => this.check(), Math.max(100, Math.min(1000, idleTimeoutMs / 4))).unref();
  }

  /** GOAWAY to every connection: their streams finish, no new one starts. */
  closeIdle(): void {
    for (const session of this.sessions) if (!session.closed) session.close();
  }

  closeAll(): void {
    for (const session of this.sessions) session.destroy();
  }

  private busy(session: ServerHttp2Session): boolean {
    for (const res of this.responses.keys()) if (streamOf(res).session === session) return true;
    return false;
  }

  private check(): void {
    const now = Date.now();
    for (const [res, watched] of this.responses) {
      // Bytes written to the stream and not yet taken: the client's flow-control window holds them back.
      const pending = res.writableLength;
      if (pending === 0 || pending !== watched.pending) {
        watched.pending = pending;
        watched.since = now;
      } else if (now - watched.since >= this.idleTimeoutMs) {
        this.responses.delete(res);
        this.onStalled(res);
        streamOf(res).close(constants.NGHTTP2_CANCEL);
      }
    }
  }
}

/** An HTTP/2 response's stream (the compatibility API's `stream`). */
function streamOf(res: ServerResponse): { readonly session: ServerHttp2Session | undefined; close(code: number): void } {
  return (res as unknown as { stream: { session: ServerHttp2Session | undefined; close(code: number): void } }).stream;
}
