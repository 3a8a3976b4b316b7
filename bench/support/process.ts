import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Whether the module at `moduleUrl` is the script node was started with (a bench run on its own). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(moduleUrl) === process.argv[1];
}

/**
 * Starts a new peak-RSS window for this process (Linux: writing 5 to clear_refs resets VmHWM). Returns false
 * where that is not possible; the peak then covers the whole run so far.
 */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak resident set size of this process since the last reset, in MB (VmHWM; process.memoryUsage elsewhere). */
export function peakRssMb(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss / 1024 / 1024;
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
