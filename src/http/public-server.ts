import { ConnectionWatch } from './connection-watch.js';
import { createServer, STATUS_CODES, type IncomingMessage, Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { Http2Watch } from './http2-watch.js';
import type { TlsIdentity } from '../config/index.js';
import { ProxyRequest2, ProxyResponse2 } from './h2-compat.js';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { capabilitiesFromAccept } from '../client/index.js';
import { type DecodedMark, decodeMarkedUrl, markValue } from '../marks/index.js';
import type { ForwardOutcome, OriginProxy } from '../proxy/origin-proxy.js';
import { classifyOriginFailure, isFromOrigin } from '../proxy/origin-failure.js';
import { addResponseHeader, beginRequestContext, fromTrustedProxy, ProxyResponse, requestLogger, trustedProxies } from './request-context.js';
import { forgetForgedForwarding } from '../proxy/forwarded.js';
import { asksForWebSocket, headWithoutUpgrade } from './unwanted-upgrade.js';
import { safeHeaderValue } from './header-values.js';
import { passThrough } from '../proxy/pass-through.js';
import { RequestSlot } from '../proxy/request-slot.js';
import { climbsUp, originPath } from '../proxy/request-target.js';
import { answerError } from './error-response.js';
import { answerHealth, isHealthRequest } from './health.js';
import { beginRequestLog, explainClose } from './request-log.js';
import type { ImageRoute } from './image-route.js';
import { IMAGE_PATH, ImageOptionError, type ImageOptions, readImageOptions } from './image-options.js';
import type { ImageSigning } from './image-signature.js';
import type { ResponsePolicy } from './document-rewriting.js';
import { inTurn } from './pipeline-turns.js';
import { loopsBack, withOwnVia } from '../proxy/via.js';

/** What a request that has been through this proxy already is told (`508`). */
const LOOP_EXPLANATION = 'this request has been through this proxy already: does the origin point back at it?';

export interface PublicServerParts {
  readonly originProxy: OriginProxy;
  /** What happens to documents: rewritten (and cached), or passed through. */
  readonly documents: ResponsePolicy;
  /**
   * Marked images (SPEC §5), when compression is on and the store is open; otherwise (also while a store that
   * could not be opened is retried) marked URLs reach the origin unmarked.
   */
  readonly images?: () => ImageRoute | undefined;
  /**
   * `<image-api enabled="true"/>`: explicit options on image URLs are ours, not the origin's; with `signing`
   * (`<image-api key salt>`), only with a valid signature. `false`: they are the origin's.
   */
  readonly imageApi?: false | { readonly signing: ImageSigning | null };
  /** Marked and in-place images are optimised (compression on); false when the image side runs for the API only. */
  readonly compressing?: boolean;
  /** `<image-scaling/>`: marked and in-place images are scaled to the client's viewport class instead. */
  readonly scaling?: boolean;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** `<listen trusted-proxies>`: whose `X-Forwarded-For` names the client. */
  readonly trustedProxies?: readonly string[];
  /** `<listen idle-timeout>`: a client that takes no byte of its response for this long is dropped. */
  readonly idleTimeoutMs?: number;
  /** `<listen tls-cert tls-key>`: HTTPS, HTTP/2 and HTTP/1.1 by ALPN. */
  readonly tls?: TlsIdentity;
}

const FAILURE_EXPLANATION = {
  timeout: 'the origin did not answer in time',
  refused: 'the origin refused the connection',
  reset: 'the origin closed the connection',
  dns: 'the origin host name could not be resolved',
  unreachable: 'the origin is unreachable',
  tls: 'the TLS connection to the origin failed',
  protocol: 'the origin sent an invalid HTTP response',
  other: 'the origin could not be reached',
} as const;


/**
 * Where image options may be: an image URL by its extension, or any URL an image element asks for (its Accept
 * starts with image/). Pages and APIs of the origin that use `format=` or `size=` for themselves are left alone.
 */
function isImageRequest(req: IncomingMessage): boolean {
  return IMAGE_PATH.test(req.url ?? '') || /^\s*image\//i.test(String(req.headers.accept ?? ''));
}

function inPlaceMark(req: IncomingMessage): DecodedMark {
  const capabilities = capabilitiesFromAccept(req.headers.accept);
  return { url: req.url ?? '/', mark: markValue(capabilities), capabilities };
}

/** The public listener: `/.slimproxy/health`, and everything else to the origin. */
export interface PublicServer {
  /** Plain HTTP/1.1, or HTTPS with ALPN `h2` and `http/1.1` when the listener has a certificate. */
  readonly server: Server | Http2SecureServer;
  /** Upgraded (WebSocket) connections: Node's server no longer tracks them, shutdown must. */
  readonly upgradedSockets: ReadonlySet<Duplex>;
  /** From now on, answer in-flight requests with `Connection: close` so keep-alive clients go away. */
  startDraining(): void;
  /**
   * Closes the connections with nothing in flight; an HTTP/2 connection is told to go away (GOAWAY) and closes
   * once its streams have finished.
   */
  closeIdle(): void;
  /** Cuts every connection (a stop whose grace period is over). */
  closeAll(): void;
  /** The certificate new TLS connections get from now on (a reload); open connections keep theirs. */
  setIdentity(identity: TlsIdentity): void;
}

export function createPublicServer({ originProxy, documents, images: imagesNow, imageApi = false, compressing = true, scaling = false, logger, metrics, trustedProxies: proxies = [], idleTimeoutMs = 60_000, tls }: PublicServerParts): PublicServer {
  let draining = false;
  const trusted = trustedProxies(proxies);
  /** `<origin url>` names a path: the site is below it, and no request may climb out of it. */
  const prefixed = originProxy.target.pathname !== '/';
  const upgradedSockets = new Set<Duplex>();
  const server = tls
    ? createSecureServer({
        cert: tls.cert,
        key: tls.key,
        allowHTTP1: true,
        // A connection that has not finished its handshake in this time is dropped (Node's default, 120 s, let a
        // client hold thousands of sockets that never said hello).
        handshakeTimeout: Math.min(10_000, idleTimeoutMs),
        // Node sets no bound (2^32-1 streams at once on one connection); 100 as Apache's and nginx's order.
        settings: { maxConcurrentStreams: 100 },
        Http1ServerResponse: ProxyResponse,
        Http2ServerRequest: ProxyRequest2,
        Http2ServerResponse: ProxyResponse2,
      })
    : createServer({ requireHostHeader: false, ServerResponse: ProxyResponse });
  // Every field the parser read reaches `req.headers`: Node keeps only the first 2000 by default while its parser
  // still frames the body by a `Content-Length` after them, so a GET whose length the proxy never saw carried a
  // second request to the origin (request smuggling). The header section is bounded by its size (16 KiB) anyway.
  // (Read from the server object for HTTP/1.1 on the TLS listener too.)
  Object.assign(server, { maxHeadersCount: 0 });
  // The exchange a socket is busy with, for the lines about its drop.
  const exchanges = new RequestSlot<Socket, { readonly req: IncomingMessage; readonly res: ServerResponse }>('slimproxy.exchange');
  // A response none of which the client took for the idle time is dropped (the client reads nothing, and holds the
  // body's memory, or a store snapshot); waiting for the origin is not (`<origin timeout>` covers it), nor idling
  // between requests (keep-alive has its own timeout). Judged by what the kernel takes, not by the socket's own
  // timeout, which counts what the client sends: a client sending a byte now and then kept its response. A graceful
  // stop closes only the connections with nothing in flight (see ConnectionWatch).
  const watch = new ConnectionWatch(server, idleTimeoutMs, (socket) => {
    const exchange = exchanges.get(socket);
    const reason = `client read nothing for the idle timeout (${idleTimeoutMs / 1000} s): connection dropped`;
    requestLogger(logger, exchange?.req).info({ ...(exchange ? {} : { client: socket.remoteAddress }), cause: 'client', pendingBytes: socket.writableLength, idleMs: idleTimeoutMs }, reason);
    if (exchange) explainClose(exchange.res, reason);
    socket.destroy();
  });
  if (server instanceof Server) server.closeIdleConnections = () => watch.closeIdle();
  const streams = server instanceof Server ? undefined : new Http2Watch(server, idleTimeoutMs, (res) => {
    const reason = `client read nothing for the idle timeout (${idleTimeoutMs / 1000} s): HTTP/2 stream reset`;
    requestLogger(logger, res.req).info({ cause: 'client', pendingBytes: res.writableLength, idleMs: idleTimeoutMs }, reason);
    explainClose(res, reason);
  });

  function settle(res: ServerResponse, outcome: ForwardOutcome, finish: ReturnType<typeof beginRequestLog>): void {
    switch (outcome.kind) {
      case 'response':
        finish({ bytes: outcome.bytes, error: outcome.error?.message, aborted: outcome.error !== undefined, ...(outcome.cause ? { cause: outcome.cause } : {}) });
        return;
      case 'refused':
        metrics.refusedRequests.inc({ reason: outcome.reason });
        finish({ bytes: answerError(res, 400, outcome.reason), error: outcome.reason, cause: 'client' });
        return;
      case 'failed': {
        metrics.originFailures.inc({ reason: outcome.failure.reason });
        const error = `origin ${outcome.failure.reason}: ${outcome.error.message}`;
        if (outcome.responseStarted || res.headersSent) {
          // Too late for an error status: cut the response so it cannot pass for a complete one.
          res.destroy(outcome.error);
          finish({ bytes: 0, error, aborted: true, cause: 'origin' });
        } else {
          const bytes = answerError(res, outcome.failure.status, FAILURE_EXPLANATION[outcome.failure.reason]);
          finish({ bytes, error, cause: 'origin' });
        }
      }
    }
  }

  /**
   * An image route that failed: the origin's failure is the client's 502/504; anything else is ours (a bug, an
   * encoder), and the request goes to the origin as it is, so the visitor still gets the image.
   */
  function imageFailed(req: IncomingMessage, res: ServerResponse, err: Error, finish: ReturnType<typeof beginRequestLog>, forward: () => void): void {
    if (isFromOrigin(err)) {
      settle(res, { kind: 'failed', failure: classifyOriginFailure(err), error: err, responseStarted: res.headersSent }, finish);
      return;
    }
    requestLogger(logger, req).error({ cause: 'proxy', error: err.message, stack: err.stack }, 'image route failed: the request goes to the origin as it is');
    metrics.failures.inc({ cause: 'proxy' });
    if (res.headersSent) {
      res.destroy(err);
      finish({ bytes: 0, error: err.message, aborted: true, cause: 'proxy' });
      return;
    }
    forward();
  }

  // An HTTP/2 request is handled as an HTTP/1.1 one: what differs is settled by ProxyRequest2 and ProxyResponse2.
  /** A request answered here with an error status, never forwarded; counted and logged by `reason`. */
  function refuseRequest(req: IncomingMessage, res: ServerResponse, status: 501 | 508, reason: string, explanation: string): void {
    const finish = beginRequestLog(req, res, 'proxy', logger, metrics);
    metrics.refusedRequests.inc({ reason });
    finish({ bytes: answerError(res, status, explanation), error: reason });
  }

  /** An upgrade request answered here with an error status on its socket, never forwarded; counted by `reason`. */
  function refuseUpgrade(socket: Duplex, status: 400 | 508, reason: string): void {
    metrics.refusedRequests.inc({ reason });
    socket.on('error', () => socket.destroy());
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => inTurn(req, res, () => handleRequest(req, res)));
  function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (draining) res.shouldKeepAlive = false;
    beginRequestContext(req, res, trusted);
    if (!fromTrustedProxy(req, trusted)) forgetForgedForwarding(req.headers);
    exchanges.set(req.socket, { req, res });
    // One gate for every route (SPEC §5.1): the request target becomes a path before anything reads it, so no
    // absolute-form target names another host to an image route any more than to the proxy path, and
    // `GET http://x/.slimproxy/health` is the health check too, never a request for the origin (SPEC §8).
    const target = originPath(req.url ?? '');
    if (!target.ok) {
      const finish = beginRequestLog(req, res, 'proxy', logger, metrics);
      settle(res, { kind: 'refused', reason: target.reason }, finish);
      return;
    }
    req.url = target.path;
    // A body in a transfer coding besides chunked (`gzip, chunked`) would reach the origin re-chunked, its coding
    // lost on the way: 501, as nginx answers (RFC 9112 §6.1).
    const coding = req.headers['transfer-encoding'];
    if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
      refuseRequest(req, res, 501, 'transfer coding', 'a request body in a transfer coding other than chunked');
      return;
    }
    if (loopsBack(req.headers.via)) {
      refuseRequest(req, res, 508, 'loop', LOOP_EXPLANATION);
      return;
    }
    // Every request the proxy sends on for this one (to the origin, for its image) says it came through here.
    req.headers.via = withOwnVia(req.headers.via);
    if (prefixed && climbsUp(target.path)) {
      const finish = beginRequestLog(req, res, 'proxy', logger, metrics);
      settle(res, { kind: 'refused', reason: "a '..' segment under the origin's path prefix" }, finish);
      return;
    }
    if (isHealthRequest(req)) {
      const finish = beginRequestLog(req, res, 'health', logger, metrics);
      finish({ bytes: answerHealth(req, res) });
      return;
    }
    // A marked image URL (SPEC §2): served from the store, or (compression off) passed to the origin unmarked.
    const marked = decodeMarkedUrl(req.url);
    if (marked) req.url = marked.url;
    const images = imagesNow?.();
    let options: ImageOptions | undefined;
    if (imageApi && images && (req.method === 'GET' || req.method === 'HEAD') && isImageRequest(req)) {
      try {
        options = readImageOptions(req.url ?? '/', req.headers, marked?.capabilities, imageApi.signing);
      } catch (err) {
        if (!(err instanceof ImageOptionError)) throw err;
        const finish = beginRequestLog(req, res, 'image-api', logger, metrics);
        metrics.refusedRequests.inc({ reason: err.refusal });
        finish({ bytes: answerError(res, err.status, err.message), error: err.message });
        return;
      }
    }
    // The options are ours: the origin sees the URL without them.
    if (options) req.url = options.originUrl;
    const finish = beginRequestLog(req, res, options ? 'image-api' : marked ? 'marked' : 'proxy', logger, metrics);
    const forward = () => originProxy.forward(req, res, marked ? passThrough : documents.handle, (outcome) => settle(res, outcome, finish), marked ? undefined : documents.links);
    // An image the route hands back goes to the origin as it is, saying why (SPEC §5.3), as answered ones do.
    const forwardImage = (reason: string) => {
      const value = safeHeaderValue(reason);
      if (value !== undefined) addResponseHeader(res, 'X-Slimproxy-Skip', value);
      forward();
    };
    // SPEC §7: an image asked for by an unmarked URL is optimised in place, for what its Accept header lists.
    const optimising = compressing || scaling ? images : undefined;
    const inPlace = !marked && optimising && (req.method === 'GET' || req.method === 'HEAD') && IMAGE_PATH.test(req.url ?? '') ? inPlaceMark(req) : undefined;
    if (images && options) {
      images.transformed(req, res, options).then(
        (answer) => (answer.kind === 'answered' ? finish({ bytes: answer.bytes, ...(answer.error === undefined ? {} : { error: answer.error, cause: answer.cause, aborted: true }) }) : forwardImage(answer.reason)),
        (err: Error) => imageFailed(req, res, err, finish, forward),
      );
      return;
    }
    if (optimising && (marked || inPlace)) {
      const image = (marked ?? inPlace)!;
      (scaling ? optimising.scaled(req, res, image.url, marked?.capabilities) : optimising.serve(req, res, image, inPlace !== undefined)).then(
        (answer) => (answer.kind === 'answered' ? finish({ bytes: answer.bytes, ...(answer.error === undefined ? {} : { error: answer.error, cause: answer.cause, aborted: true }) }) : forwardImage(answer.reason)),
        (err: Error) => imageFailed(req, res, err, finish, forward),
      );
      return;
    }
    if (!marked) documents.beforeForward(req, res);
    forward();
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!asksForWebSocket(req)) {
      // Answered as the plain request it also is, on the same connection: its head (without the offer) and what
      // followed it are put back, and the connection is handed to the server as a new one, once the responses
      // to the requests before it on the connection (pipelined) are out: the new connection would queue its own
      // behind them, and nothing would ever let it go. Node leaves the socket paused meanwhile.
      const again = () => {
        socket.unshift(Buffer.concat([headWithoutUpgrade(req), head]));
        server.emit(tls ? 'secureConnection' : 'connection', socket);
      };
      watch.afterResponses(socket as Socket, again);
      return;
    }
    // The gates of every request (see the 'request' listener): no `..` out of the origin's path, no forged
    // forwarding fields.
    if (prefixed && climbsUp(req.url ?? '/')) {
      refuseUpgrade(socket, 400, "a '..' segment under the origin's path prefix");
      return;
    }
    // An upgrade with a body: http-proxy-3 sends the head only, and the origin would read the body's bytes (or the
    // next request on a reused connection) as the next request: smuggling. No WebSocket client sends one.
    const length = req.headers['content-length'];
    if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
      refuseUpgrade(socket, 400, 'upgrade with a body');
      return;
    }
    // Loops as on the 'request' path (Via).
    if (loopsBack(req.headers.via)) {
      refuseUpgrade(socket, 508, 'loop');
      return;
    }
    req.headers.via = withOwnVia(req.headers.via);
    if (!fromTrustedProxy(req, trusted)) forgetForgedForwarding(req.headers);
    upgradedSockets.add(socket);
    socket.once('close', () => upgradedSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const path = req.url;
    originProxy.upgrade(req, socket, head, (outcome) => {
      if (outcome.kind === 'refused') {
        metrics.refusedRequests.inc({ reason: outcome.reason });
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      if (outcome.kind === 'failed') metrics.originFailures.inc({ reason: outcome.failure.reason });
      const error = outcome.kind === 'failed' ? outcome.error.message : outcome.kind === 'refused' ? outcome.reason : undefined;
      metrics.requests.inc({ route: 'upgrade', outcome: error === undefined ? 'closed' : 'failed' });
      logger.info({ method: req.method, path, route: 'upgrade', ...(error === undefined ? {} : { error }) }, 'upgrade');
    });
  });

  // A reverse proxy has no business opening tunnels: CONNECT is refused without contacting anything.
  server.on('connect', (req: IncomingMessage, connection: Duplex | ServerResponse) => {
    metrics.refusedRequests.inc({ reason: 'CONNECT' });
    logger.warn({ method: req.method, path: req.url, status: 405, route: 'refused' }, 'request');
    // HTTP/2 hands a CONNECT over as a request and its response (a 2xx would say the tunnel is open).
    if (req.httpVersionMajor === 2) {
      (connection as ServerResponse).writeHead(405, { Allow: 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH' }).end();
      return;
    }
    const socket = connection as Duplex;
    socket.on('error', () => socket.destroy());
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // No request was read, so there is no request id: the peer's address says whose connection it was.
    logger.debug({ client: (socket as Socket).remoteAddress, error: err.message, code: err.code }, 'client error');
    // A TLS connection that failed its handshake (or timed out in it) has no HTTP to answer with: an answer written
    // to it would wait for a handshake that never comes, and hold the socket for good.
    if (err.code === 'ECONNRESET' || !socket.writable || /^ERR_(TLS|SSL)_/.test(err.code ?? '')) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  return {
    server,
    upgradedSockets,
    startDraining() {
      draining = true;
    },
    closeIdle() {
      watch.closeIdle();
      streams?.closeIdle();
    },
    closeAll() {
      watch.closeAll();
      streams?.closeAll();
    },
    setIdentity(identity) {
      if (!(server instanceof Server)) server.setSecureContext({ cert: identity.cert, key: identity.key });
    },
  };
}
