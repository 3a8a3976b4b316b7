import type { IncomingHttpHeaders } from 'node:http';

/**
 * RFC 9110 §7.6.1: fields that describe one connection, not the message. A proxy must not forward them, nor any
 * field the `Connection` header names. `Transfer-Encoding` is the framing of one hop: Node re-frames each side.
 */
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade']);

/** The field names a `Connection` header lists, lower-cased (RFC 9110 §7.6.1). */
export function connectionListed(connection: string | string[] | undefined): Set<string> {
  const values = Array.isArray(connection) ? connection : connection === undefined ? [] : [connection];
  const names = new Set<string>();
  for (const value of values) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') names.add(name);
    }
  }
  return names;
}

const NONE_LISTED: ReadonlySet<string> = new Set();

/**
 * Fields a `Connection` listing never takes away: how the message is framed and where it goes. Node's parser framed
 * the body by `Content-Length` whatever `Connection` said; dropped, a GET's body went on unframed and the origin
 * read it as the next request on the connection (request smuggling). nginx ignores such listings too.
 */
const NEVER_UNLISTED = new Set(['content-length', 'transfer-encoding', 'host']);

function isHopByHop(name: string, listed: ReadonlySet<string>): boolean {
  return HOP_BY_HOP.has(name) || (listed.has(name) && !NEVER_UNLISTED.has(name));
}

/** Whether the client accepts trailers (`TE: trailers`), which we can honour since trailers are passed on. */
function acceptsTrailers(te: string | undefined): boolean {
  return te !== undefined && te.split(',').some((t) => t.trim().toLowerCase().split(';')[0] === 'trailers');
}

/**
 * `Expect: 100-continue` has been answered already: Node's server sends the client `100 Continue` itself. The
 * origin gets the body without being asked again (as nginx does), and its request is an ordinary one.
 */
const ANSWERED_HERE = new Set(['expect']);

/**
 * The request headers to send to the origin. Hop-by-hop fields go; `TE: trailers` is re-stated for our own hop
 * because trailers reach the client. For a protocol upgrade (WebSocket) `Connection: upgrade` and `Upgrade` are
 * the point of the request and stay. The body's framing header stays: Node frames the outgoing body from it.
 */
export function requestHeadersForOrigin(headers: IncomingHttpHeaders, upgrade = false): IncomingHttpHeaders {
  const listed = headers.connection === undefined ? NONE_LISTED : connectionListed(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (ANSWERED_HERE.has(name)) continue;
    if (name === 'transfer-encoding' || !isHopByHop(name, listed)) out[name] = headers[name];
  }
  const te = headers.te;
  if (acceptsTrailers(Array.isArray(te) ? te.join(',') : te)) out.te = 'trailers';
  if (upgrade && headers.upgrade !== undefined) {
    out.connection = 'upgrade';
    out.upgrade = headers.upgrade;
  }
  return out;
}

/**
 * The origin's response headers without hop-by-hop fields, as a flat raw list (name, value, name, value, …) that
 * keeps the origin's order, spelling and repeated fields such as `Set-Cookie`.
 */
export function responseHeadersForClient(rawHeaders: readonly string[]): string[] {
  // Names are lower-cased only where they could be one of these (by their length): a copy of every name of every
  // response was most of what this cost.
  let listed: Set<string> | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const listedName of connectionListed(rawHeaders[i + 1])) (listed ??= new Set()).add(listedName);
    }
  }
  const out: string[] = [];
  let lengthAt = -1;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (listed !== undefined || MAY_BE_DROPPED_OR_MOVED.has(name.length)) {
      const lower = name.toLowerCase();
      if (isHopByHop(lower, listed ?? NONE_LISTED)) continue;
      // Content-Length goes last: Node 20, writing a raw header list, re-encodes a Content-Disposition that follows
      // it as a Latin-1 buffer and then refuses that buffer, throwing out of `writeHead` (a filename with an accent,
      // in the order nginx and Apache send them, ended the process).
      if (lower === 'content-length') {
        if (lengthAt < 0) lengthAt = i;
        continue;
      }
    }
    out.push(name, rawHeaders[i + 1]!);
  }
  if (lengthAt >= 0) {
    for (let i = lengthAt; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') out.push(name, rawHeaders[i + 1]!);
    }
  }
  return out;
}

/** The lengths of the names `responseHeadersForClient` drops or moves (the hop-by-hop fields, Content-Length). */
const MAY_BE_DROPPED_OR_MOVED = new Set([...HOP_BY_HOP, 'content-length'].map((name) => name.length));
