import type { IncomingMessage } from 'node:http';
import { connectionListed } from '../proxy/hop-by-hop.js';

/**
 * Whether an `Upgrade` request asks for WebSocket: the one protocol the proxy passes on (http-proxy-3 takes no
 * other, and destroys the socket of any other without a word).
 */
export function asksForWebSocket(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '')
    .split(',')
    .some((protocol) => protocol.trim().toLowerCase().split('/')[0] === 'websocket');
}

/** What offers the upgrade: dropped from the request that is answered without it. */
const UPGRADE_OFFER = new Set(['upgrade', 'connection', 'http2-settings']);

/**
 * The request's head as the client sent it, less its upgrade offer (`Upgrade`, `Connection` and the fields it
 * names, `HTTP2-Settings`), for answering it as the plain request it also is: RFC 9110 §7.8 lets a server ignore
 * an `Upgrade` it does not take. Node hands every request with an `Upgrade` to the 'upgrade' listener once there
 * is one (for WebSocket), and the client of an `h2c` offer (Java's HTTP client does it on every `http:` URL,
 * `curl --http2` too) got an empty reply. The names and values are the ones Node parsed: no line break in them.
 */
export function headWithoutUpgrade(req: IncomingMessage): Buffer {
  const listed = connectionListed(req.headers.connection);
  let head = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (UPGRADE_OFFER.has(name) || listed.has(name)) continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  // The connection's own fate stays the client's.
  if (listed.has('close')) head += 'Connection: close\r\n';
  return Buffer.from(`${head}\r\n`, 'latin1');
}
