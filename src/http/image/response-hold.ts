import type { ServerResponse } from 'node:http';
import type { LentBytes } from '../../store/image-store.js';
import type { MemoryBudget, Reservation } from '../memory-budget.js';
import { CLIENT_GONE, type ImageAnswer } from './parts.js';

/**
 * What one image response holds until it closes: its share of `<limits max-buffered>` for the bodies it reads,
 * and the bytes the store lent it (a view of the map when large: see `LentBytes`). All given back once the
 * response is flushed or closed, or at once when the request is handed back to be forwarded (`handBack`).
 */
export class ResponseHold {
  private reservation: Reservation | undefined;
  private readonly lent: LentBytes[] = [];
  private closed = false;
  private readonly giveBack = () => {
    if (this.closed) return;
    this.closed = true;
    this.reservation?.release();
    for (const lent of this.lent) lent.release();
  };

  constructor(
    private readonly res: ServerResponse,
    private readonly budget: MemoryBudget,
  ) {
    // Closed already (the client left while the original was fetched): nothing will be sent, nothing is held.
    if (res.closed || res.destroyed) this.closed = true;
    else res.once('close', this.giveBack);
  }

  /** Whether the response has closed (the client went away): nothing is sent to it. */
  get gone(): boolean {
    return this.closed;
  }

  /** Room for `bytes` more under the budget; false when there is none now (or the response is gone). */
  reserve(bytes: number): boolean {
    if (this.closed) return false;
    if (this.reservation) return this.reservation.grow(bytes);
    this.reservation = this.budget.reserve(bytes);
    return this.reservation !== undefined;
  }

  /** Ties bytes lent by the store to this response (given back at once if it has closed meanwhile). */
  keep(lent: LentBytes): void {
    if (this.closed) lent.release();
    else this.lent.push(lent);
  }

  /**
   * The request goes to the origin instead, saying why (nothing held here is sent); or, when the client has gone
   * meanwhile, nowhere: there is no one to forward for.
   */
  handBack(reason: string): ImageAnswer {
    const gone = this.closed;
    this.res.off('close', this.giveBack);
    this.giveBack();
    return gone ? CLIENT_GONE : { kind: 'forward', reason };
  }
}
