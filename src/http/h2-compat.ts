import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants, Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { headWithAddedHeaders } from './request-context.js';

/**
 * HTTP/2 requests reach the same handlers as HTTP/1.1 ones, through Node's compatibility API. What differs is
 * settled here, once, so that no route has to know which protocol it serves:
 * - the request's header object has no pseudo-headers (`:method`, `:path`, `:scheme`, `:authority`: never sent
 *   to the origin, which is spoken to over HTTP/1.1), `host` from `:authority`, and a body without a length marked
 *   chunked (see `http1Headers`);
 * - a response's head is one HTTP/2 can carry (see `http2Head`: no reason phrase, no connection-specific field,
 *   single-value fields once, a final status) with the headers added by `addResponseHeader`, as `ProxyResponse`
 *   gives them for HTTP/1.1; trailers are taken as pairs too;
 * - `writableFinished`, `destroyed` and `closed` tell a response cut short or whose stream is gone, as they do on
 *   an HTTP/1.1 response.
 */
export class ProxyRequest2 extends Http2ServerRequest {
  #headers: IncomingHttpHeaders | undefined;

  // @ts-expect-error TS2611: @types/node declares a property where Node has a getter; the setter lets the proxy
  // path replace the object (`requestHeadersForOrigin`) as it does on an HTTP/1.1 request.
  override get headers(): IncomingHttpHeaders {
    // Node's own getter, on this request: the headers as the client sent them, pseudo-headers included.
    return (this.#headers ??= http1Headers(Reflect.get(Http2ServerRequest.prototype, 'headers', this), this.stream.endAfterHeaders));
  }

  override set headers(value: IncomingHttpHeaders) {
    this.#headers = value;
  }
}

/**
 * The headers an HTTP/1.1 request would have had. `:authority` is the target's authority (RFC 9113 §8.3.1) and wins
 * over a `host` field that disagrees, so that no two parts of the proxy (the origin's `Host`, `X-Forwarded-Host`,
 * the rewriter's site) can see two different hosts. A body HTTP/2 frames by its DATA frames alone (no
 * `content-length`) is sent to the origin chunked: written there as it is, with no length, it would run into the
 * next request on the keep-alive connection (request smuggling: Node frames a GET's body only when told to).
 */
function http1Headers(headers: IncomingHttpHeaders, endAfterHeaders: boolean): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name of Object.keys(headers)) if (name.charCodeAt(0) !== 0x3a) out[name] = headers[name];
  const authority = headers[':authority'];
  if (typeof authority === 'string') out.host = authority;
  if (!endAfterHeaders && out['content-length'] === undefined) out['transfer-encoding'] = 'chunked';
  return out;
}

/** RFC 9113 §8.2.2: fields that make an HTTP/2 message malformed. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Fields an HTTP/2 message may carry once only (Node refuses a head with two: `ERR_HTTP2_HEADER_SINGLE_VALUE`, as
 * `kSingleValueHeaders` in its http2 utilities); an origin that sends one twice (`X-Content-Type-Options` from the
 * application and from its front server) has the first kept, as browsers read most of them.
 */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'dnt', 'etag', 'expires',
  'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location',
  'max-forwards', 'proxy-authorization', 'range', 'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/**
 * A head HTTP/2 can carry, as a flat list: no connection-specific field, each single-value field once, no
 * `Content-Length` on a response that has no content by its status (1xx, 204: with END_STREAM a length that is
 * not 0 is a protocol error to the client).
 */
function http2Head(status: number, headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): OutgoingHttpHeader[] {
  const flat: OutgoingHttpHeader[] = [];
  if (Array.isArray(headers)) {
    if (Array.isArray(headers[0])) for (const pair of headers) flat.push(...(pair as unknown as OutgoingHttpHeader[]));
    else flat.push(...headers);
  } else if (headers) {
    for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat.push(name, value);
  }
  const out: OutgoingHttpHeader[] = [];
  const seen = new Set<string>();
  const bodiless = status < 200 || status === 204;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = String(flat[i]).toLowerCase();
    if (CONNECTION_SPECIFIC.has(name) || (bodiless && name === 'content-length')) continue;
    if (SINGLE_VALUE.has(name)) {
      if (seen.has(name)) continue;
      seen.add(name);
    }
    out.push(flat[i]!, flat[i + 1]!);
  }
  return out;
}

function isPairList(trailers: OutgoingHttpHeaders | readonly [string, string][]): trailers is readonly [string, string][] {
  return Array.isArray(trailers);
}

export class ProxyResponse2 extends Http2ServerResponse<ProxyRequest2> {
  override writeHead(statusCode: number, statusMessage?: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, message?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    const given = typeof message === 'string' || message === undefined ? headers : message;
    for (const name of CONNECTION_SPECIFIC) if (this.hasHeader(name)) this.removeHeader(name);
    // HTTP/2 has no status outside 200–599 for a final response (HTTP/1.1 passes 600–999 on): the origin's answer
    // cannot be told, as a 502 would be its own.
    const status = statusCode >= 200 && statusCode <= 599 ? statusCode : 502;
    try {
      // Node takes a flat list as HTTP/1.1's writeHead does (its types say an object only).
      return super.writeHead(status, http2Head(status, headWithAddedHeaders(this as unknown as ServerResponse, given)) as unknown as OutgoingHttpHeaders);
    } catch (err) {
      // Anything else Node refuses in a head (a value it cannot encode) ends this response, never the process:
      // the client sees its stream reset, the request log the error.
      this.stream.destroy(err as Error);
      return this;
    }
  }

  /**
   * Trailers as HTTP/1.1's `addTrailers` takes them too: a list of [name, value] pairs. Repeats of a name are
   * joined into one value (RFC 9110 §5.3): Node's HTTP/2 throws from inside the stream, the process with it, on a
   * repeated field it allows once (`Last-Modified`, `X-Content-Type-Options`, …).
   */
  override addTrailers(trailers: OutgoingHttpHeaders | readonly [string, string][]): void {
    if (!isPairList(trailers)) {
      super.addTrailers(trailers);
      return;
    }
    const merged: Record<string, string> = {};
    for (const [name, value] of trailers) {
      const key = name.toLowerCase();
      const before = merged[key];
      merged[key] = before === undefined ? value : `${before}, ${value}`;
    }
    super.addTrailers(merged);
  }

  /**
   * Whether the whole response went out: ended by us and the stream closed without a reset. Node's answers true
   * once the stream is closed, reset by the client or not: http-proxy-3 and the request log read it to tell a response cut short (the origin's request is then
   * aborted at once, not left to `<origin timeout>`).
   */
  // @ts-expect-error TS2611: declared by @types/node as a property.
  override get writableFinished(): boolean {
    const { rstCode } = this.stream;
    return this.writableEnded && this.stream.writableFinished && (rstCode === undefined || rstCode === constants.NGHTTP2_NO_ERROR);
  }

  // @ts-expect-error TS2611: declared by @types/node, absent at run time (the class is a legacy Stream).
  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  // @ts-expect-error TS2611: as `destroyed`.
  override get closed(): boolean {
    return this.stream.closed;
  }
}
