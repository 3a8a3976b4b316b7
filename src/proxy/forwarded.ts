import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/**
 * Fields in which a proxy tells the origin the host and scheme the client asked for. From a client that is not a
 * trusted proxy (`<listen trusted-proxies>`) they are forgeries: http-proxy-3 keeps a client's `X-Forwarded-Host`
 * and puts its `X-Forwarded-Proto` first, so an origin that builds links from them (as the README invites) made a
 * page with the attacker's host in it, which the kept-page cache then served to everyone. They are taken out and
 * the proxy's own values go in. `X-Forwarded-For` is appended to, as nginx does: an origin reads it from the right.
 */
const SAID_BY_A_PROXY = ['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded'] as const;

/** Drops the forwarding fields of a request whose peer is not a trusted proxy (see SAID_BY_A_PROXY). */
export function forgetForgedForwarding(headers: IncomingHttpHeaders): void {
  for (const name of SAID_BY_A_PROXY) if (headers[name] !== undefined) delete headers[name];
}

/**
 * The `X-Forwarded-*` fields the proxy path sends (http-proxy-3's `xfwd`), for requests the proxy makes itself
 * (image fetches): this hop is appended to what the client sent, never replaces it, so an origin that trusts only
 * the last entry sees the client's real address whatever `X-Forwarded-For` the client forged.
 */
export function withForwardedFields(headers: IncomingHttpHeaders, req: IncomingMessage): IncomingHttpHeaders {
  // Read, not `instanceof`: an HTTP/2 request's socket is a proxy of its stream that answers for the TLS socket.
  const encrypted = (req.socket as TLSSocket).encrypted === true;
  const port = /:(\d+)$/.exec(req.headers.host ?? '')?.[1] ?? (encrypted ? '443' : '80');
  const values = { for: req.socket.remoteAddress ?? '', port, proto: encrypted ? 'https' : 'http' };
  const out: IncomingHttpHeaders = { ...headers };
  for (const [field, value] of Object.entries(values)) {
    const name = `x-forwarded-${field}`;
    const previous = req.headers[name];
    out[name] = previous ? `${String(previous)},${value}` : value;
  }
  out['x-forwarded-host'] = req.headers['x-forwarded-host'] ?? req.headers.host ?? '';
  return out;
}
