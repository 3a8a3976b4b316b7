import { type IncomingMessage, Server, type ServerResponse } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';

interface Watched {
  /** Responses being answered or flushed on it (pipelined requests: more than one), until they close. */
  readonly responses: Set<ServerResponse>;
  /** What it had read when its last response was flushed: more means a next request has begun. */
  readAtRest: number;
  /** Response bytes the kernel has taken so far, and since when that figure has not moved. */
  flushed: number;
  since: number;
}

/**
 * The public listener's connections, for two questions Node's own bookkeeping answers wrongly:
 * - which are idle, for a graceful stop: no response being answered or flushed, nothing of a next request read.
 *   (Node's `closeIdleConnections`, which `server.close()` calls too, takes a response for done once `end()` is
 *   called, and cut large bodies still being flushed, megabytes short.)
 * - which hold a response the client has stopped taking: none of it flushed for the idle timeout. The socket's own
 *   timeout counts what the client sends as activity, so a client sending a byte now and then while reading
 *   nothing kept its response (and the store snapshot a large one holds) for as long as it liked.
 * It also closes the responses a closed connection leaves behind: Node emits 'close' on the response being sent
 * when its socket closes, but not on those of pipelined requests queued behind it, so what they held (a fetch
 * from the origin, a lent store body, their share of `max-buffered`) was never let go.
 */
export class ConnectionWatch {
  private readonly sockets = new Map<Socket, Watched>();

  constructor(
    server: Server | Http2SecureServer,
    private readonly idleTimeoutMs: number,
    /** Called once for a socket whose response has made no progress for the idle timeout. */
    private readonly onStalled: (socket: Socket) => void,
  ) {
    // Over TLS, requests see the TLS socket ('secureConnection'), not the TCP one ('connection'); an HTTP/2
    // connection's requests are streams of one session, watched by the session's own timeout instead.
    const tls = !(server instanceof Server);
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      if (tls && (socket as TLSSocket).alpnProtocol === 'h2') return;
      // A connection handed to the server again (an upgrade offer answered as a plain request) is watched already.
      if (this.sockets.has(socket)) return;
      const watched: Watched = { responses: new Set(), readAtRest: 0, flushed: 0, since: Date.now() };
      this.sockets.set(socket, watched);
      socket.once('close', () => {
        this.sockets.delete(socket);
        // After Node has closed the one it was sending (it does so on this same event).
        setImmediate(() => {
          for (const res of watched.responses) closeLeftBehind(res);
        });
      });
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const watched = this.sockets.get(req.socket);
      if (!watched) return;
      watched.responses.add(res);
      watched.since = Date.now();
      res.once('close', () => {
        watched.responses.delete(res);
        watched.readAtRest = req.socket.bytesRead;
      });
    });
    // Unref'd: the watch never keeps a stopped server's process alive.
    setInterval(() => this.check(), Math.max(100, Math.min(1000, idleTimeoutMs / 4))).unref();
  }

  /**
   * Calls `then` once every response on `socket` has closed, pipelined ones queued behind the one being answered
   * included (at once when there is none); never, if the connection closes first.
   */
  afterResponses(socket: Socket, then: () => void): void {
    const watched = this.sockets.get(socket);
    const pending = watched ? [...watched.responses].filter((res) => !res.destroyed && !res.writableFinished) : [];
    if (pending.length === 0) {
      then();
      return;
    }
    let left = pending.length;
    for (const res of pending) {
      res.once('close', () => {
        left -= 1;
        if (left === 0 && !socket.destroyed) then();
      });
    }
  }

  /** Destroys every connection (a stop whose grace period is over). */
  closeAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
  }

  /** Destroys the connections with no response in flight and no next request begun; the others are left alone. */
  closeIdle(): void {
    for (const [socket, watched] of this.sockets) {
      if (watched.responses.size === 0 && socket.bytesRead === watched.readAtRest) socket.destroy();
    }
  }

  private check(): void {
    const now = Date.now();
    for (const [socket, watched] of this.sockets) {
      // Waiting for us or the origin is not the client's stall (`<origin timeout>` covers the origin).
      if (watched.responses.size === 0 || socket.writableLength === 0) {
        watched.since = now;
        continue;
      }
      // What the kernel took: handed to it, less what is still waiting in Node or libuv.
      const flushed = socket.bytesWritten - socket.writableLength;
      if (flushed !== watched.flushed) {
        watched.flushed = flushed;
        watched.since = now;
      } else if (now - watched.since >= this.idleTimeoutMs && !socket.destroyed) {
        this.onStalled(socket);
      }
    }
  }
}

/**
 * Closes a response whose connection is gone (it has not emitted 'close', or it would not be left) as Node closes
 * the one it was sending: destroyed, then 'close'. Writes to it from now on are dropped, as on a closed socket.
 */
function closeLeftBehind(res: ServerResponse): void {
  res.destroy();
  res.emit('close');
}
