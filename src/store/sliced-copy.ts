/** How much all copies together may take per event-loop turn: a few milliseconds of memcpy. */
const SLICE_BYTES = 2 * 2 ** 20;

interface Copy {
  readonly from: Uint8Array;
  readonly to: Buffer;
  at: number;
  readonly done: (copy: Buffer) => void;
}

const queue: Copy[] = [];
let scheduled = false;

function copySome(): void {
  scheduled = false;
  let budget = SLICE_BYTES;
  while (budget > 0 && queue.length > 0) {
    const copy = queue[0]!;
    const end = Math.min(copy.at + budget, copy.from.length);
    copy.to.set(copy.from.subarray(copy.at, end), copy.at);
    budget -= end - copy.at;
    copy.at = end;
    if (end === copy.from.length) {
      queue.shift();
      copy.done(copy.to);
    }
  }
  if (queue.length > 0) schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(copySome);
}

/**
 * A copy of `from` (which must stay valid until the copy is done), made a slice per event-loop turn, all copies
 * in flight sharing one slice: ten concurrent 50 MB reads cost each turn the same few milliseconds as one,
 * where each yielding on its own would copy ten slices in one turn.
 */
export function copyInSlices(from: Uint8Array): Promise<Buffer> {
  const to = Buffer.allocUnsafeSlow(from.length);
  return new Promise((resolve) => {
    queue.push({ from, to, at: 0, done: resolve });
    schedule();
  });
}
