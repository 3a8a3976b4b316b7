import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { RequestSlot } from '../proxy/request-slot.js';

/** Requests one HTTP/1.1 connection may have waiting behind the one being answered; past it the client is cut off. */
export const MAX_PIPELINED = 64;

interface Turns {
  busy: boolean;
  readonly waiting: (() => void)[];
}

const turnsOf = new RequestSlot<Socket, Turns>('slimproxy.turns');

/**
 * Handles the requests of one HTTP/1.1 connection one at a time, each once the response before it has closed, as
 * nginx does (RFC 9112 §9.3.2 allows parallel handling only of safe methods). Node emits every pipelined request as
 * soon as it is parsed: one write of 3,000 GETs opened 3,000 origin connections at once, and two pipelined POSTs
 * reached the origin together. A connection with more than `MAX_PIPELINED` requests waiting is closed (browsers
 * do not pipeline). HTTP/2 streams are the session's to bound (`maxConcurrentStreams`).
 */
export function inTurn(req: IncomingMessage, res: ServerResponse, handle: () => void): void {
  if (req.httpVersionMajor !== 1) {
    handle();
    return;
  }
  const socket = req.socket;
  let turns = turnsOf.get(socket);
  if (!turns) turnsOf.set(socket, (turns = { busy: false, waiting: [] }));
  const state = turns;
  const run = () => {
    state.busy = true;
    res.once('close', next);
    handle();
  };
  function next(): void {
    for (let waiting = state.waiting.shift(); waiting; waiting = state.waiting.shift()) {
      waiting();
      if (state.busy) return;
    }
    state.busy = false;
  }
  if (!state.busy) {
    run();
    return;
  }
  if (state.waiting.length >= MAX_PIPELINED) {
    socket.destroy();
    return;
  }
  // One closed meanwhile (the client went away: see ConnectionWatch) is not handled, and passes the turn on.
  state.waiting.push(() => {
    if (res.destroyed) return;
    run();
  });
}
