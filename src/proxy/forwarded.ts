import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

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
