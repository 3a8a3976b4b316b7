import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Database, type Key, open } from 'lmdb';
import type { Metrics } from '../../src/observability/metrics.js';
import { savingsKey } from '../../src/store/keys.js';

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

/** A store's savings history table as another program (or a damaged disk) may leave it: values and raw bytes. */
export interface SavingsTableWrites {
  /** Values as lmdb encodes them (msgpack), under any key. */
  readonly values: Database<unknown, Key>;
  /** Bytes as they are, under any key. */
  readonly bytes: Database<Buffer, Key>;
}

/** Writes into the savings history of the store at `path` (not open), behind the store's back. */
export async function writeSavingsTable(path: string, write: (table: SavingsTableWrites) => void): Promise<void> {
  const root = open({ path, compression: false, eventTurnBatching: false });
  const table = { values: root.openDB<unknown, Key>({ name: 'savings' }), bytes: root.openDB<Buffer, Key>({ name: 'savings', encoding: 'binary' }) };
  await root.transaction(() => write(table));
  await root.close();
}

/**
 * Damage a savings history entry may come with (hostile review 19), each written at `minute` (a minute's start): a
 * value that does not decode stopped the start; `{ variant: null }` made `/status` fail; text drew NaN.
 */
export const SAVINGS_DAMAGE: readonly { readonly what: string; readonly write: (table: SavingsTableWrites, minute: number) => void }[] = [
  { what: 'a value that does not decode', write: ({ bytes }, minute) => bytes.putSync(savingsKey('minute', minute), Buffer.from([0xc1, 0xff, 0x00])) },
  { what: 'a value that is text', write: ({ values }, minute) => values.putSync(savingsKey('minute', minute), 'not an object') },
  { what: 'a value that is a list', write: ({ values }, minute) => values.putSync(savingsKey('minute', minute), [1, 2]) },
  { what: 'an outcome that is null', write: ({ values }, minute) => values.putSync(savingsKey('minute', minute), { variant: null }) },
  { what: 'bytes that are text', write: ({ values }, minute) => values.putSync(savingsKey('minute', minute), { variant: { original: 'x', sent: 1 } }) },
  { what: 'bytes that are negative', write: ({ values }, minute) => values.putSync(savingsKey('minute', minute), { variant: { original: -5000, sent: 10 } }) },
  { what: 'bytes beyond any count', write: ({ values }, minute) => values.putSync(savingsKey('minute', minute), { variant: { original: 1e308, sent: 1e308 } }) },
  { what: 'a key that names no time', write: ({ values }) => values.putSync('minute\u0000not-a-number', { variant: { original: 5, sent: 1 } }) },
  { what: 'a time inside its minute', write: ({ values }, minute) => values.putSync(savingsKey('minute', minute + 1234), { variant: { original: 5, sent: 1 } }) },
  { what: 'a key that is not text', write: ({ values }, minute) => values.putSync(['minute', minute], { variant: { original: 5, sent: 1 } }) },
];
