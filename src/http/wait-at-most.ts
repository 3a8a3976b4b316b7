/**
 * How long a request waits for work done for it in an image process (a conversion to a format its mark allows, an
 * image-options transform) before it is answered without it: the work goes on and is kept for the next request.
 * Long enough for a large image on a loaded machine (image processes give way to serving), short of a browser's
 * patience; before, a request behind a long experiment waited for as long as that took.
 */
export const CONVERSION_WAIT_MS = 30_000;

/** The promise's value, or `late` if it has not settled within `ms` (the promise goes on; others may share it). */
export function settledWithin<T, L>(promise: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<L>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
