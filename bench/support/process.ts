import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { childPids } from '../../test/support/process-tree.js';

/** Whether the module at `moduleUrl` is the script node was started with (a bench run on its own). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(moduleUrl) === process.argv[1];
}

/** This process and the experiment processes it started (not a browser it drives), Linux; [] elsewhere. */
function ownProcesses(): string[] {
  if (!existsSync('/proc/self/status')) return [];
  return ['self', ...childPids(process.pid).map(String).filter((pid) => commandLine(pid).includes('experiment-process'))];
}

function commandLine(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Starts a new peak-RSS window for this process and its children (Linux: writing 5 to clear_refs resets VmHWM).
 * Returns false where that is not possible; the peak then covers the whole run so far.
 */
export function resetPeakRss(): boolean {
  try {
    for (const pid of ownProcesses()) writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return ownProcesses().length > 0;
  } catch {
    return false;
  }
}

/**
 * Peak resident set size since the last reset, in MB: this process's and each experiment process's (VmHWM)
 * added up, an upper bound of their peak together (process.memoryUsage of this one elsewhere).
 */
export function peakRssMb(): number {
  const peaks = ownProcesses().map((pid) => {
    try {
      return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      return 0; // ended since
    }
  });
  return peaks.length > 0 ? peaks.reduce((sum, peak) => sum + peak, 0) : process.memoryUsage().rss / 1024 / 1024;
}

/** CPU seconds (user + system, all threads of this process) spent by `run`. */
export async function cpuSeconds<T>(run: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const before = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(before);
  return { result, seconds: (used.user + used.system) / 1e6 };
}

/**
 * A bench module's entry: with `--json` (how bench/run.ts calls it) prints the result as one JSON line, otherwise
 * hands it to `print` for people.
 */
export async function runStage<T>(moduleUrl: string, measure: (args: string[]) => Promise<T>, print: (result: T) => void): Promise<void> {
  if (!isMain(moduleUrl)) return;
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const result = await measure(args.filter((arg) => arg !== '--json'));
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else print(result);
}
