import { KEPT_ENTRY_OVERHEAD, ownCopy } from '../../memory/kept-bytes.js';
import type { OriginalRecord } from '../../store/records.js';
import type { MemoryBudget, Reservation } from '../memory-budget.js';

/** An image answer that will not change while its original does not: its headers and bytes, ready to send. */
export interface KeptAnswer {
  /** The stored original it was made from, as the store returned it: another object means the record changed. */
  readonly record: OriginalRecord;
  /** The store's `outcomeGeneration` of the original when the answer was chosen: a variant written since may beat it. */
  readonly generation: number;
  /**
   * For an answer before final: the experiments (queue keys) it waits for, all waiting or running when it was
   * made. It holds while they still do (a repeat then only raises them); any of them ending writes the original's
   * progress, which changes the generation.
   */
  readonly waitingFor?: readonly string[];
  /** Until when the original may be used without asking the origin (`freshUntil`): after it, the route decides again. */
  readonly freshUntil: number;
  /** The response's head as a flat list of names and values, made safe, `Content-Length` in, `Age` out (per response). */
  readonly head: readonly string[];
  /** Its validators, for conditional requests. */
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  /** Bytes of their own (never a view of the store's map: they outlive any read transaction). */
  readonly body: Buffer;
  /** How it is counted in `slimproxy_image_responses_total`. */
  readonly outcome: string;
}

/** Below this, keeping answers is off (a budget too small to spare an eighth of it for repeats). */
const MIN_BYTES = 1 << 20;

/**
 * Image answers by (store key, mark, in place), least recently used first out. An answer is a function of the
 * stored original and what came of its experiments (SPEC §5.5), so a repeat request needs neither the store's
 * records nor its bytes, nor the headers worked out again: what made a final image cost several times a plain
 * pass-through. Kept: final answers, and answers before final once every experiment they wait for is under way (a
 * repeat would only raise them). An answer is used only while the store returns the very record object it was made
 * from (lmdb's record cache gives a new object after any write of it: revalidation, a new version, eviction), while
 * no variant or progress of the original was written since (`outcomeGeneration`: an experiment ended, here or for
 * another mark), and while that original is fresh; otherwise the route answers as usual and keeps the new answer.
 *
 * The bytes kept count against `<limits max-buffered>` (they are image bodies in memory), at most an eighth of it:
 * with the default 256 MiB, 32 MiB, about a thousand images of a typical page.
 */
export class KeptAnswers {
  private readonly entries = new Map<string, KeptAnswer>();
  private readonly reservation: Reservation | undefined;
  private readonly maxBytes: number;
  private held = 0;

  constructor(budget: MemoryBudget) {
    this.maxBytes = Math.floor(budget.capacity / 8);
    this.reservation = this.maxBytes >= MIN_BYTES ? budget.reserve(0) : undefined;
  }

  get bytes(): number {
    return this.held;
  }

  get count(): number {
    return this.entries.size;
  }

  static key(storeKey: string, mark: string, inPlace: boolean): string {
    return `${storeKey}\u0000${mark}\u0000${inPlace ? 'in-place' : 'marked'}`;
  }

  /**
   * The answer kept under `key`, if it still holds at `now` for `record` and `generation` (the store's current
   * record of the original and `outcomeGeneration`).
   */
  get(key: string, record: OriginalRecord | undefined, generation: number, now: number): KeptAnswer | undefined {
    const kept = this.entries.get(key);
    if (!kept) return undefined;
    if (kept.record !== record || kept.generation !== generation || now >= kept.freshUntil) {
      this.drop(key, kept);
      return undefined;
    }
    // Most recently used last: re-inserted.
    this.entries.delete(key);
    this.entries.set(key, kept);
    return kept;
  }

  /**
   * Keeps `answer` with a copy of `bytes` as its body (fresh at `now`) if it fits: the least recently used go to
   * make room, an answer over a sixteenth of the room never. The copy is made only once the answer is admitted: a
   * large original asked for again and again would otherwise be copied whole on every request (a 50 MB copy is a
   * 20–60 ms turn of the event loop) for nothing.
   */
  set(key: string, answer: Omit<KeptAnswer, 'body'>, bytes: Uint8Array, now: number): void {
    const size = sizeOf(key, answer, bytes.length);
    // Stale already (served while revalidated, or the origin asks for revalidation every time): never usable.
    if (!this.reservation || size > this.maxBytes / 16 || now >= answer.freshUntil) return;
    const previous = this.entries.get(key);
    if (previous) this.drop(key, previous);
    for (const [oldest, entry] of this.entries) {
      if (this.held + size <= this.maxBytes) break;
      this.drop(oldest, entry);
    }
    // The budget is shared with bodies in flight: when they hold it all, nothing more is kept.
    if (!this.reservation.grow(size)) return;
    const body = ownCopy(bytes);
    this.held += size;
    this.entries.set(key, { ...answer, body });
  }

  private drop(key: string, entry: KeptAnswer): void {
    const size = sizeOf(key, entry, entry.body.length);
    this.entries.delete(key);
    this.held -= size;
    this.reservation?.shrink(size);
  }
}

/** An entry's memory as counted: the body, and the strings that name it (two bytes a character at most). */
function sizeOf(key: string, answer: Omit<KeptAnswer, 'body'>, bodyLength: number): number {
  let size = bodyLength + KEPT_ENTRY_OVERHEAD + 2 * (key.length + answer.record.url.length);
  for (const job of answer.waitingFor ?? []) size += 2 * job.length;
  for (const field of answer.head) size += 2 * field.length;
  return size;
}
