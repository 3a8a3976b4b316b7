import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Logger } from '../observability/log.js';
import { RequestSlot } from '../proxy/request-slot.js';

/** Who asked, as every log line of a request says it: its id and the client's address. */
export interface RequestContext {
  /** The incoming `X-Request-Id` when it is a plain token, else one made here; sent back and to the origin. */
  readonly id: string;
  readonly client: string;
}

/** A request id from outside is kept only as a short token: it goes into log lines and headers as it is. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

const contexts = new RequestSlot<IncomingMessage, RequestContext>('slimproxy.context');

/** `<listen trusted-proxies>` as a matcher (empty: no proxy is trusted, the socket's peer is the client). */
export function trustedProxies(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

function trusted(list: BlockList | undefined, address: string): boolean {
  if (!list || address === '') return false;
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(plain);
  return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
}

/** Whether the request's peer is a trusted proxy, whose forwarding fields are believed. */
export function fromTrustedProxy(req: IncomingMessage, proxies: BlockList | undefined): boolean {
  return trusted(proxies, req.socket.remoteAddress ?? '');
}

/**
 * The client's address: the socket's peer, unless that peer is a trusted proxy; then the nearest address in
 * `X-Forwarded-For` (read from the right) that is not a trusted proxy itself. Addresses a client wrote further
 * left are never believed.
 */
export function clientAddress(req: IncomingMessage, proxies: BlockList | undefined): string {
  const peer = req.socket.remoteAddress ?? '';
  if (!trusted(proxies, peer)) return peer;
  const forwarded = String(req.headers['x-forwarded-for'] ?? '')
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  for (let i = forwarded.length - 1; i >= 0; i -= 1) {
    const hop = forwarded[i]!;
    if (isIP(hop) === 0) return peer;
    if (!trusted(proxies, hop)) return hop;
  }
  return forwarded[0] ?? peer;
}

/**
 * Gives a request its context: the id is sent back (`X-Request-Id`) and passed on to the origin, so one id
 * follows a request through the proxy's lines and the origin's.
 */
export function beginRequestContext(req: IncomingMessage, res: ServerResponse, proxies: BlockList | undefined): RequestContext {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  req.headers['x-request-id'] = id;
  // An id the response already has (the origin's own) is left as it is.
  addResponseHeader(res, 'X-Request-Id', id);
  const context = { id, client: clientAddress(req, proxies) };
  contexts.set(req, context);
  return context;
}

export function requestContext(req: IncomingMessage | undefined): RequestContext | undefined {
  return req ? contexts.get(req) : undefined;
}

/** The logger for lines about one request: each carries its id and client (the logger itself without one). */
export function requestLogger(logger: Logger, req: IncomingMessage | undefined): Logger {
  const context = requestContext(req);
  return context ? logger.child({ reqId: context.id, client: context.client }) : logger;
}

/** Headers the proxy adds to a response as its head is written (name, value, name, value…). */
const addedHeaders = new RequestSlot<ServerResponse, string[]>('slimproxy.added-headers');

/**
 * A header the proxy adds to a response whoever writes its head (the origin's headers passed through, or ours),
 * unless the response has it already. Added as the head is written (by `ProxyResponse`): set beforehand with
 * `setHeader`, it would make Node merge a raw header list into its map of headers, a slower path for every
 * response.
 */
export function addResponseHeader(res: ServerResponse, name: string, value: string): void {
  const list = addedHeaders.get(res);
  if (list) list.push(name, value);
  else addedHeaders.set(res, [name, value]);
}

function named(field: unknown, lower: string): boolean {
  return typeof field === 'string' && field.length === lower.length && field.toLowerCase() === lower;
}

/**
 * Whether a head given as a list has a field named `lower`: by its names only (a value may say a field's name,
 * as `Access-Control-Expose-Headers: X-Request-Id` does), in either of Node's list forms (flat, or pairs).
 */
function listsField(head: readonly OutgoingHttpHeader[], lower: string): boolean {
  if (Array.isArray(head[0])) return head.some((pair) => Array.isArray(pair) && named(pair[0], lower));
  for (let i = 0; i < head.length; i += 2) if (named(head[i], lower)) return true;
  return false;
}

function withAdded(res: ServerResponse, added: readonly string[], headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined {
  let result = headers;
  for (let i = 0; i + 1 < added.length; i += 2) {
    const name = added[i]!;
    const value = added[i + 1]!;
    if (res.hasHeader(name)) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(result)) {
      if (!listsField(result, lower)) result = Array.isArray(result[0]) ? [...result, [name, value]] : [...result, name, value];
    } else if (result) {
      if (!Object.keys(result).some((field) => named(field, lower))) result = { ...result, [name]: value };
    } else {
      res.setHeader(name, value);
    }
  }
  return result;
}

/**
 * The public listener's responses: their head carries the headers added with `addResponseHeader`. A class rather
 * than a `writeHead` wrapped per response: the wrapper and its bound function, made for every request, kept
 * whole requests alive through V8's young-generation collections (measured: 2.2 MB survived each scavenge under
 * load, against 55 KB without it), and each was then promoted and freed by a full collection only.
 */
export class ProxyResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  override writeHead(statusCode: number, statusMessage?: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, message?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    if (typeof message === 'string' || headers !== undefined) return super.writeHead(statusCode, message as string | undefined, headWithAddedHeaders(this, headers));
    return super.writeHead(statusCode, headWithAddedHeaders(this, message));
  }
}

/** A head as it is to be written: with the headers added to its response (HTTP/1.1's `ProxyResponse`, HTTP/2's). */
export function headWithAddedHeaders(res: ServerResponse, headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined {
  const added = addedHeaders.get(res);
  return added ? withAdded(res, added, headers) : headers;
}
