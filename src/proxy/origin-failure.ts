import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { RequestSlot } from './request-slot.js';

/** Raised by us when the origin said nothing for longer than `<origin timeout>`. */
export class OriginTimeoutError extends Error {
  override name = 'OriginTimeoutError';
  readonly code = 'SLIMPROXY_ORIGIN_TIMEOUT';
  constructor(timeoutMs: number) {
    super(`origin sent nothing for ${timeoutMs} ms`);
  }
}

/** The request a connection to the origin is busy with, and its `<origin timeout>`. */
const silenceWatch = new RequestSlot<Socket, { readonly req: ClientRequest; readonly timeoutMs: number; heldBack: boolean }>('slimproxy.origin-silence');

/**
 * `<origin timeout>` on one request to the origin: an idle timer on its socket, for silence that is the origin's.
 * While the response is held back by whoever reads it (a slow client, under backpressure) the origin sends
 * nothing because it was asked not to; then the timer only starts again, and the client's own idle timeout
 * (`<listen idle-timeout>`) decides. A response found held back at one expiry and flowing at the next was let go
 * meanwhile: its silence counts from then, one more period (the timer may expire in the same turn of the event
 * loop as the response is let go, before the socket had a chance to read what the origin was waiting to send).
 * One `timeout` listener per connection, not listeners and closures per request: a keep-alive connection to the
 * origin lives long, and what it references from each request lived on in V8's old generation.
 */
export function limitOriginSilence(req: ClientRequest, timeoutMs: number): void {
  const socket = req.socket;
  if (!socket) {
    req.once('socket', () => limitOriginSilence(req, timeoutMs));
    return;
  }
  if (!silenceWatch.has(socket)) socket.on('timeout', onOriginSilence);
  silenceWatch.set(socket, { req, timeoutMs, heldBack: false });
  socket.setTimeout(timeoutMs);
}

function onOriginSilence(this: Socket): void {
  const watched = silenceWatch.get(this);
  if (!watched) return;
  const { req, timeoutMs } = watched;
  // Done with (its response complete, or it ended otherwise): an idle connection is the agent's to close.
  const response = (req as ClientRequest & { res?: IncomingMessage | null }).res ?? undefined;
  if (req.destroyed || response?.complete === true || (req.socket !== this && req.socket !== null)) return;
  if (response?.isPaused() === true || watched.heldBack) {
    watched.heldBack = response?.isPaused() === true;
    this.setTimeout(timeoutMs);
    return;
  }
  req.destroy(new OriginTimeoutError(timeoutMs));
}

export interface OriginFailure {
  /** What the client gets when no response has started yet: 504 for a timeout, 502 otherwise. */
  readonly status: 502 | 504;
  /** A short, stable label for logs and metrics. */
  readonly reason: 'timeout' | 'refused' | 'reset' | 'dns' | 'unreachable' | 'tls' | 'protocol' | 'other';
}

/** Classifies an error from talking to the origin (RFC 9110 §15.6.3 502, §15.6.5 504). */
export function classifyOriginFailure(err: unknown): OriginFailure {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  switch (code) {
    case 'SLIMPROXY_ORIGIN_TIMEOUT':
    case 'ETIMEDOUT':
      return { status: 504, reason: 'timeout' };
    case 'ECONNREFUSED':
      return { status: 502, reason: 'refused' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return { status: 502, reason: 'reset' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { status: 502, reason: 'dns' };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return { status: 502, reason: 'unreachable' };
    default:
      if (code.startsWith('ERR_TLS') || code.startsWith('CERT_') || code.includes('SSL')) return { status: 502, reason: 'tls' };
      if (code.startsWith('HPE_')) return { status: 502, reason: 'protocol' };
      return { status: 502, reason: 'other' };
  }
}

const FROM_ORIGIN = Symbol('from the origin');

/** Marks an error as the origin's (a refused, reset or timed-out fetch), not the proxy's own. */
export function fromOrigin<E>(err: E): E {
  if (err instanceof Error) Object.defineProperty(err, FROM_ORIGIN, { value: true });
  return err;
}

/** Whether an error came from talking to the origin (`fromOrigin`), so that a 502/504 is the truth. */
export function isFromOrigin(err: unknown): boolean {
  return err instanceof Error && (err as Error & { [FROM_ORIGIN]?: boolean })[FROM_ORIGIN] === true;
}
