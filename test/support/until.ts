import assert from 'node:assert/strict';

/** Waits for a condition, checked every 20 ms, failing with `what` after `withinMs`. */
export async function until(condition: () => Promise<boolean> | boolean, what: () => string, withinMs = 15_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`not within ${withinMs / 1000} s: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
