import type { IncomingMessage } from 'node:http';

/**
 * Whether an `Upgrade` request is a WebSocket one as http-proxy-3 takes it: exactly `websocket` (it destroys the
 * socket of any other offer without a word, `websocket, h2c` and `websocket/13` included).
 */
export function asksForWebSocket(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '').trim().toLowerCase() === 'websocket';
}

/** The connection options that make the offer: dropped from `Connection` in the request answered without it. */
const OFFER_TOKENS = new Set(['upgrade', 'http2-settings']);

/**
 * The request's head as the client sent it, less its upgrade offer, for answering it as the plain request it also
 * is: RFC 9110 §7.8 lets a server ignore an `Upgrade` it does not take. Node hands every request with an `Upgrade`
 * to the 'upgrade' listener once there is one (for WebSocket), and the client of an `h2c` offer (Java's HTTP
 * client does it on every `http:` URL, `curl --http2` too) got an empty reply. Only `Upgrade`, `HTTP2-Settings`
 * and those two tokens of `Connection` go: every other field stays as it came, so the request is read again exactly
 * as it was (a `Connection: content-length` that dropped the body's framing made the body a second request).
 * The names and values are the ones Node parsed: no line break in them.
 */
export function headWithoutUpgrade(req: IncomingMessage): Buffer {
  let head = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'upgrade' || name === 'http2-settings') continue;
    if (name === 'connection') {
      const kept = raw[i + 1]!.split(',').filter((token) => !OFFER_TOKENS.has(token.trim().toLowerCase()) && token.trim() !== '');
      if (kept.length > 0) head += `${raw[i]}: ${kept.join(',')}\r\n`;
      continue;
    }
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return Buffer.from(`${head}\r\n`, 'latin1');
}
