import { createHash } from 'node:crypto';

/**
 * Work over large stored bodies (copying, hashing), done a slice per event-loop turn so that no request waits
 * behind a 50 MB memcpy or digest. All work in flight shares one slice per turn: ten concurrent 50 MB reads cost
 * each turn the same few milliseconds as one, where each yielding on its own would do ten slices in one turn.
 */

/** How many bytes all work together may go through per event-loop turn: a few milliseconds of memcpy or sha256. */
const SLICE_BYTES = 2 * 2 ** 20;

interface Job {
  readonly from: Uint8Array;
  at: number;
  /** When it says so, the job stops before its next slice (its source may be gone). */
  readonly dropped: () => boolean;
  readonly abandon: () => void;
  /** Does `from[start, end)`. */
  readonly step: (start: number, end: number) => void;
  readonly done: () => void;
}

const queue: Job[] = [];
let scheduled = false;

function workSome(): void {
  scheduled = false;
  let budget = SLICE_BYTES;
  while (budget > 0 && queue.length > 0) {
    const job = queue[0]!;
    if (job.dropped()) {
      queue.shift();
      job.abandon();
      continue;
    }
    const end = Math.min(job.at + budget, job.from.length);
    job.step(job.at, end);
    budget -= end - job.at;
    job.at = end;
    if (end === job.from.length) {
      queue.shift();
      job.done();
    }
  }
  if (queue.length > 0) schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(workSome);
}

const never = () => false;

/** A copy of `from` (which must stay valid until the copy is done, or `dropped()` says so), made in slices. */
export function copyInSlices(from: Uint8Array, dropped: () => boolean = never): Promise<Buffer> {
  const to = Buffer.allocUnsafeSlow(from.length);
  return new Promise((resolve, reject) => {
    queue.push({ from, at: 0, dropped, abandon: () => reject(new Error('copy dropped')), step: (start, end) => to.set(from.subarray(start, end), start), done: () => resolve(to) });
    schedule();
  });
}

/** The hex sha256 of `from` (which must stay valid until it is done), hashed in slices. */
export function digestInSlices(from: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  return new Promise((resolve) => {
    queue.push({ from, at: 0, dropped: never, abandon: () => undefined, step: (start, end) => hash.update(from.subarray(start, end)), done: () => resolve(hash.digest('hex')) });
    schedule();
  });
}
