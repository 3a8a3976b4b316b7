import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { RequestSlot } from '../proxy/request-slot.js';

/** Requests one HTTP/1.1 connection may have waiting behind the one being answered; past it the client is cut off. */
export const MAX_PIPELINED = 64;

/** How many requests of a connection wait for their turn (only ever set on a connection that pipelines). */
const waitingOf = new RequestSlot<Socket, { count: number }>('slimproxy.waiting');

/**
 * Handles the requests of one HTTP/1.1 connection one at a time, each once the response before it has finished, as
 * nginx does (RFC 9112 §9.3.2 allows parallel handling only of safe methods). Node emits every pipelined request as
 * soon as it is parsed: one write of 3,000 GETs opened 3,000 origin connections at once, and two pipelined POSTs
 * reached the origin together. Node gives a response its socket (`'socket'`) only when every response before it on
 * the connection has finished, so that is the turn: nothing to pay on a connection that does not pipeline. A
 * connection with more than `MAX_PIPELINED` requests waiting is closed (browsers do not pipeline). An HTTP/2
 * response has its socket at once; streams are the session's to bound (`maxConcurrentStreams`).
 */
export function inTurn(req: IncomingMessage, res: ServerResponse, handle: () => void): void {
  if (res.socket !== null) {
    handle();
    return;
  }
  const socket = req.socket;
  let waiting = waitingOf.get(socket);
  if (!waiting) waitingOf.set(socket, (waiting = { count: 0 }));
  if (waiting.count >= MAX_PIPELINED) {
    socket.destroy();
    return;
  }
  const counted = waiting;
  counted.count += 1;
  // A connection closed meanwhile never gives the response its socket: it is not handled (see ConnectionWatch).
  res.once('socket', () => {
    counted.count -= 1;
    handle();
  });
}
