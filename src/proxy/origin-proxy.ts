import { Agent as HttpAgent, type ClientRequest, type IncomingMessage, type InformationEvent, type ServerResponse, STATUS_CODES } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import type { OriginConfig } from '../config/index.js';
import { requestHeadersForOrigin } from './hop-by-hop.js';
import { classifyOriginFailure, limitOriginSilence, type OriginFailure, OriginTimeoutError } from './origin-failure.js';
import { originPath } from './request-target.js';
import { RequestSlot } from './request-slot.js';
import { bodyCounter } from './pass-through.js';
import { forwardEarlyHints, type LinkFieldMarker, UNMARKED } from './early-hints.js';
import { isWritableStatus, unwritableStatusError, writableReason } from './origin-status.js';

/** How one forwarded exchange ended, for the request log and metrics. */
export type ForwardOutcome =
  | { readonly kind: 'response'; readonly bytes: number; readonly error?: Error; readonly cause?: 'origin' }
  | { readonly kind: 'failed'; readonly failure: OriginFailure; readonly error: Error; readonly responseStarted: boolean }
  | { readonly kind: 'refused'; readonly reason: string };

/**
 * Decides what to send for an origin response. The default passes it through; later rooms (rewriting, images)
 * supply their own. It must call `done` exactly once.
 */
export type ResponseHandler = (
  originRes: IncomingMessage,
  res: ServerResponse,
  /** `cause: 'origin'` when the origin broke the response off (else an error is the client's going away). */
  done: (outcome: { bytes: number; error?: Error; cause?: 'origin' }) => void,
) => void;

export interface OriginProxy {
  /** The origin's address (resolved: for the embedded site, where it listens). */
  readonly target: URL;
  /** `links` marks the `Link` fields of a `103 Early Hints` the origin sends (by default they pass as they are). */
  forward(req: IncomingMessage, res: ServerResponse, handler: ResponseHandler, done: (outcome: ForwardOutcome) => void, links?: LinkFieldMarker): void;
  /** Passes a protocol upgrade (WebSocket) through to the origin. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, done: (outcome: ForwardOutcome) => void): void;
  close(): void;
}

interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly handler: ResponseHandler;
  readonly links: LinkFieldMarker;
  /** The request's body has no length of its own (chunked; HTTP/2 DATA frames): it goes to the origin chunked. */
  readonly chunkedBody: boolean;
  readonly done: (outcome: ForwardOutcome) => void;
  /** The origin's response, once it came. */
  originRes?: IncomingMessage;
}

/** `onBody` hears of every body chunk the origin sends (for the byte counters). */
export function createOriginProxy(target: URL, origin: OriginConfig, onBody: (bytes: number) => void = () => undefined): OriginProxy {
  // Keep-alive to the origin: a new TCP (and TLS) handshake per request would be most of the proxy's overhead.
  // Idle sockets are dropped after 4 s, before the 5 s idle limit of common servers (Apache, Node) closes them
  // under us and a request sent on a dying socket fails with a reset (Node also honours `Keep-Alive: timeout`).
  const agentOptions = { keepAlive: true, maxFreeSockets: 64, timeout: 4000 };
  const agent = target.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  const proxy = new ProxyServer({
    target,
    agent,
    // The path goes as the client wrote it (after originPath), not re-normalised through WHATWG URL parsing.
    toProxy: true,
    xfwd: true,
    changeOrigin: origin.host === 'origin',
    selfHandleResponse: true,
    ws: true,
  });
  const exchanges = new RequestSlot<IncomingMessage, Exchange>('slimproxy.forward');
  // http-proxy-3's `deleteLength` pass gives a DELETE or OPTIONS without Content-Length a `Content-Length: 0` and
  // drops its Transfer-Encoding, body or not: a chunked body then goes to the origin unframed, and runs into the
  // next request on the keep-alive connection (request smuggling). The framing the request came with is put back.
  proxy.before('web', 'stream', (req: IncomingMessage) => {
    if (exchanges.get(req)?.chunkedBody === true) {
      delete req.headers['content-length'];
      req.headers['transfer-encoding'] = 'chunked';
    }
  });

  proxy.on('proxyReq', (proxyReq, req) => {
    // Idle timeout on the origin socket: covers waiting for the response headers and a body that stalls.
    limitOriginSilence(proxyReq, origin.timeoutMs);
    proxyReq.on('upgrade', refuseUnaskedUpgrade);
    const exchange = exchanges.get(req);
    if (exchange) {
      hinted.set(proxyReq, exchange);
      proxyReq.on('information', forwardInformation);
    }
  });
  // The origin's answer to a WebSocket upgrade is waited for `<origin timeout>` (a request the origin never answers
  // held two sockets for ever); the tunnel after a 101 has no timeout of ours: a quiet WebSocket is not a stalled one.
  const wsAnswered = new RequestSlot<IncomingMessage, true>('slimproxy.ws-answered');
  proxy.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage) => {
    const timer = setTimeout(() => proxyReq.destroy(new OriginTimeoutError(origin.timeoutMs)), origin.timeoutMs);
    const answered = () => {
      clearTimeout(timer);
      wsAnswered.set(req, true);
    };
    proxyReq.once('upgrade', answered);
    proxyReq.once('response', () => {
      answered();
      // Not a tunnel: a response like any other, under `<origin timeout>` while its body comes, and its connection
      // never reused (the origin may still wait for an upgrade's body it was promised).
      proxyReq.shouldKeepAlive = false;
      limitOriginSilence(proxyReq, origin.timeoutMs);
    });
    proxyReq.once('close', () => clearTimeout(timer));
  });
  proxy.on('proxyRes', (originRes, req, res) => {
    // Counted once per response (a counter update per chunk cost more than the chunk's other handling).
    const received = bodyCounter(originRes);
    originRes.once('close', () => onBody(received.bytes));
    const exchange = exchanges.get(req);
    if (!exchange || !res) {
      originRes.resume();
      return;
    }
    // A status or reason phrase Node's server would throw on (the process with it): a 502, or the standard phrase.
    if (!isWritableStatus(originRes.statusCode)) {
      originRes.destroy();
      const err = unwritableStatusError(originRes.statusCode);
      exchange.done({ kind: 'failed', failure: classifyOriginFailure(err), error: err, responseStarted: false });
      return;
    }
    originRes.statusMessage = writableReason(originRes.statusCode, originRes.statusMessage);
    exchange.originRes = originRes;
    exchange.handler(originRes, res, (outcome) => exchange.done({ kind: 'response', ...outcome }));
  });

  function prepare(req: IncomingMessage, upgrade: boolean): string | undefined {
    const path = originPath(req.url ?? '');
    if (!path.ok) return path.reason;
    req.url = path.path;
    req.headers = requestHeadersForOrigin(req.headers, upgrade);
    return undefined;
  }

  return {
    target,
    forward(req, res, handler, reportOnce, links = UNMARKED) {
      const done = once(reportOnce);
      const refused = prepare(req, false);
      if (refused !== undefined) {
        done({ kind: 'refused', reason: refused });
        return;
      }
      exchanges.set(req, { req, res, handler, links, done, chunkedBody: req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined });
      void proxy.web(req, res, {}, (err: Error) => {
        // The response was whole by its own framing; what the origin sent after it (a body longer than its
        // Content-Length) is no response's: ignored, as browsers do, and the connection is not reused.
        if (exchanges.get(req)?.originRes?.complete === true) return;
        const responseStarted = res.headersSent;
        done({ kind: 'failed', failure: classifyOriginFailure(err), error: err, responseStarted });
      });
    },
    upgrade(req, socket, head, reportOnce) {
      const done = once(reportOnce);
      const refused = prepare(req, true);
      if (refused !== undefined) {
        done({ kind: 'refused', reason: refused });
        return;
      }
      socket.once('close', () => done({ kind: 'response', bytes: 0 }));
      void proxy.ws(req, socket, head, {}, (err: Error) => {
        const failure = classifyOriginFailure(err);
        const responseStarted = wsAnswered.get(req) === true;
        // No answer from the origin yet: the client is told so (502/504) before the connection is closed.
        if (!responseStarted && socket.writable) socket.write(`HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        done({ kind: 'failed', failure, error: err, responseStarted });
      });
    },
    close() {
      proxy.close();
      agent.destroy();
    },
  };
}

/**
 * A `101` to a request that asked for no upgrade: Node destroys the connection and reports neither a response nor
 * an error, and the client waited for good. It is an origin that broke HTTP: a 502. (One function for every
 * request, not a closure each: it is on the path of every proxied request.)
 */
function refuseUnaskedUpgrade(this: ClientRequest, _res: IncomingMessage, socket: Duplex): void {
  socket.destroy();
  this.destroy();
  // Node emits no 'error' for a request whose socket it has handed over: the proxy's error path is told here.
  this.emit('error', Object.assign(new Error('the origin switched protocols (101) on a request that asked for no upgrade'), { code: 'HPE_UNEXPECTED_UPGRADE' }));
}

/** The exchange an origin request belongs to, for the 1xx it may get (see `forwardInformation`). */
const hinted = new RequestSlot<ClientRequest, Exchange>('slimproxy.hinted');

/** A 1xx from the origin goes to the exchange's client (one function for every request, not a closure each). */
function forwardInformation(this: ClientRequest, info: InformationEvent): void {
  const exchange = hinted.get(this);
  if (exchange) forwardEarlyHints(info, exchange.req, exchange.res, exchange.links);
}

/** An exchange can fail in several places at once (request error, origin error, socket close): report the first. */
function once<T>(report: (value: T) => void): (value: T) => void {
  let reported = false;
  return (value) => {
    if (reported) return;
    reported = true;
    report(value);
  };
}
