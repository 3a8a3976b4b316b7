import { statfs } from 'node:fs/promises';

/** Why the store could not write: the label of `slimproxy_store_errors_total{reason}`. */
export type StoreFailure = 'disk-full' | 'map-full' | 'io' | 'other';

/** LMDB's own error codes (lmdb.h). */
const MDB_MAP_FULL = -30792;
/** Below this much free space on the store's filesystem, an I/O error is taken for a full disk. */
const NEARLY_FULL_BYTES = 1024 * 1024;

interface ErrorWithCode {
  readonly message?: string;
  readonly code?: string | number;
  readonly errno?: number;
  /** lmdb-js: a failed commit rejects with "Commit failed" and the real error behind this promise. */
  readonly commitError?: Promise<unknown>;
}

/**
 * What a failed store write came to, for logs and metrics. LMDB reports a full tmpfs or disk as `EIO` as often as
 * `ENOSPC` (the write of a page fails either way), so an I/O error on a filesystem with (almost) no free space
 * left is called what it is.
 */
export async function storeFailureOf(err: unknown, path: string): Promise<{ reason: StoreFailure; message: string }> {
  let cause = err as ErrorWithCode | undefined;
  if (cause?.commitError) cause = (await cause.commitError.then(() => cause, (inner: unknown) => inner as ErrorWithCode)) ?? cause;
  const code = cause?.code ?? cause?.errno;
  const message = cause?.message ?? String(err);
  if (code === 'ENOSPC' || code === 28 || code === -28 || /no space/i.test(message)) return { reason: 'disk-full', message };
  if (code === MDB_MAP_FULL || /MDB_MAP_FULL|map.*full/i.test(message)) return { reason: 'map-full', message };
  if (code === 'EIO' || code === 5 || code === -5 || /input\/output/i.test(message)) {
    return { reason: (await freeBytes(path)) < NEARLY_FULL_BYTES ? 'disk-full' : 'io', message };
  }
  return { reason: 'other', message };
}

async function freeBytes(path: string): Promise<number> {
  try {
    const stats = await statfs(path);
    return stats.bavail * stats.bsize;
  } catch {
    return Infinity;
  }
}
