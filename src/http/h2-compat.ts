import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { headWithAddedHeaders } from './request-context.js';

/**
 * HTTP/2 requests reach the same handlers as HTTP/1.1 ones, through Node's compatibility API. What differs is
 * settled here, once, so that no route has to know which protocol it serves:
 * - the request's header object has no pseudo-headers (`:method`, `:path`, `:scheme`, `:authority`: never sent
 *   to the origin, which is spoken to over HTTP/1.1) and carries `host` from `:authority` when the client sent
 *   none (browsers send `:authority` alone), as an HTTP/1.1 request would have it;
 * - a response's head drops the reason phrase (HTTP/2 has none) and the connection-specific fields HTTP/2 forbids
 *   (RFC 9113 §8.2.2: Node refuses the whole head if one is present), and carries the headers added with
 *   `addResponseHeader`, as `ProxyResponse` does for HTTP/1.1;
 * - `destroyed` and `closed` tell a response whose stream is gone, as they do on an HTTP/1.1 response.
 */
export class ProxyRequest2 extends Http2ServerRequest {
  #headers: IncomingHttpHeaders | undefined;

  // @ts-expect-error TS2611: @types/node declares a property where Node has a getter; the setter lets the proxy
  // path replace the object (`requestHeadersForOrigin`) as it does on an HTTP/1.1 request.
  override get headers(): IncomingHttpHeaders {
    // Node's own getter, on this request: the headers as the client sent them, pseudo-headers included.
    return (this.#headers ??= withoutPseudoHeaders(Reflect.get(Http2ServerRequest.prototype, 'headers', this)));
  }

  override set headers(value: IncomingHttpHeaders) {
    this.#headers = value;
  }
}

function withoutPseudoHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name of Object.keys(headers)) if (name.charCodeAt(0) !== 0x3a) out[name] = headers[name];
  const authority = headers[':authority'];
  if (out.host === undefined && typeof authority === 'string') out.host = authority;
  return out;
}

/** RFC 9113 §8.2.2: fields that make an HTTP/2 message malformed. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function withoutConnectionFields(headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined {
  if (headers === undefined) return undefined;
  if (Array.isArray(headers)) {
    if (Array.isArray(headers[0])) return headers.filter((pair) => !(Array.isArray(pair) && CONNECTION_SPECIFIC.has(String(pair[0]).toLowerCase())));
    const out: OutgoingHttpHeader[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) if (!CONNECTION_SPECIFIC.has(String(headers[i]).toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
    return out;
  }
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) out[name] = value;
  return out;
}

export class ProxyResponse2 extends Http2ServerResponse<ProxyRequest2> {
  override writeHead(statusCode: number, statusMessage?: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, message?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    const given = typeof message === 'string' || message === undefined ? headers : message;
    for (const name of CONNECTION_SPECIFIC) if (this.hasHeader(name)) this.removeHeader(name);
    // Node takes a flat list as HTTP/1.1's writeHead does (its types say an object only).
    return super.writeHead(statusCode, headWithAddedHeaders(this as unknown as ServerResponse, withoutConnectionFields(given)) as OutgoingHttpHeaders);
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
