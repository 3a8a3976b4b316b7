import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small tmpfs of its own (the tests that use it run as root, as `.ci/run` does). */
export function mountTmpfs(size: string): string {
  const mount = mkdtempSync(join(tmpdir(), 'slimproxy-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount]);
  } catch (err) {
    throw new Error(`this test mounts a tmpfs and needs root (as .ci/run has): ${(err as Error).message}`);
  }
  return mount;
}

export function unmount(mount: string | undefined): void {
  if (!mount) return;
  execFileSync('umount', ['-l', mount]);
  rmSync(mount, { recursive: true, force: true });
}

/** Fills the filesystem at `dir` to the last byte with one file; returns its path. */
export function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  // What is left is less than a block: fill that too.
  try {
    for (;;) writeSync(fd, block.subarray(0, 512));
  } catch {
    // full
  }
  closeSync(fd);
  return path;
}
