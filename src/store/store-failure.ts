import { statfsSync } from 'node:fs';

/** Why the store could not write: the label of `slimproxy_store_errors_total{reason}`. */
export type StoreFailure = 'disk-full' | 'map-full' | 'io' | 'other';

/** LMDB's own error codes (lmdb.h). */
const MDB_MAP_FULL = -30792;
/**
 * Below this much free space on the store's filesystem, an I/O error is taken for a full disk, and a store is not
 * opened: LMDB maps its lock file and touches pages of it that a full filesystem cannot give it (on tmpfs that is a
 * SIGBUS, which no handler can catch).
 */
export const NEARLY_FULL_BYTES = 1024 * 1024;

/** The store could not be opened (full disk, I/O error): the proxy runs without it and tries again. */
export class StoreUnavailableError extends Error {
  constructor(
    readonly reason: StoreFailure,
    message: string,
  ) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

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
  const message = cause?.message ?? String(err);
  const reason = failureOf(cause, message);
  if (reason !== 'io') return { reason, message };
  return { reason: freeBytesSync(path) < NEARLY_FULL_BYTES ? 'disk-full' : 'io', message };
}

/** `storeFailureOf` for an error thrown at once (opening the store): the same reasons. */
export function storeFailureOfSync(err: unknown, path: string): { reason: StoreFailure; message: string } {
  const cause = err as ErrorWithCode | undefined;
  const message = cause?.message ?? String(err);
  const reason = failureOf(cause, message);
  return { reason: reason === 'io' && freeBytesSync(path) < NEARLY_FULL_BYTES ? 'disk-full' : reason, message };
}

function failureOf(cause: ErrorWithCode | undefined, message: string): StoreFailure {
  const code = cause?.code ?? cause?.errno;
  if (code === 'ENOSPC' || code === 28 || code === -28 || /no space/i.test(message)) return 'disk-full';
  if (code === MDB_MAP_FULL || /MDB_MAP_FULL|map.*full/i.test(message)) return 'map-full';
  if (code === 'EIO' || code === 5 || code === -5 || /input\/output/i.test(message)) return 'io';
  // A filesystem remounted read-only (what Linux does after I/O errors): a fault of the disk, as passing as EIO.
  if (code === 'EROFS' || code === 30 || code === -30 || /read-only file system/i.test(message)) return 'io';
  return 'other';
}

/** Free bytes on the filesystem of `path` (Infinity when that cannot be told). */
export function freeBytesSync(path: string): number {
  try {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  } catch {
    return Infinity;
  }
}
