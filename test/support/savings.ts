import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metrics } from '../../src/observability/metrics.js';

/** Image answers counted as the request path counts them: bytes as the origin has them and as sent, by outcome. */
export function answered(metrics: Metrics, outcome: string, original: number, sent: number): void {
  metrics.imageBytes.inc({ side: 'original', outcome }, original);
  metrics.imageBytes.inc({ side: 'sent', outcome }, sent);
}

/** A clock a test moves: the savings history's minutes and months pass without waiting. */
export interface TestClock {
  readonly now: () => number;
  advance(ms: number): void;
  set(time: number): void;
}

export function testClock(start: number): TestClock {
  let time = start;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
    set: (value) => {
      time = value;
    },
  };
}

/**
 * A store path for simulated history, on tmpfs when there is one: each simulated minute is a real LMDB commit, and
 * a disk's fsync makes months of them slow. `remove` deletes it (tmpfs is memory).
 */
export function historyStorePath(): { readonly path: string; readonly remove: () => void } {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'slimproxy-savings-'));
  return { path: join(dir, 'store'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
