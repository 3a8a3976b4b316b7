/**
 * The entry of an experiment process (`ExperimentPool` starts them). Experiments are background work: this
 * process lowers its own priority before it starts any thread, so that libvips' encoders, the thread pool and
 * DSSIM, which all start later and inherit it, give way to the proxy's event loop whenever both want a core
 * (issue 16: on 2 cores they took 0.5–0.8 of one and pushed the loop's p99 delay from 22–35 ms to 35–50 ms).
 * Being a process of its own, a crash in a decoder on a hostile image ends one experiment, not the proxy.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { ExperimentTask, WorkerReply } from './worker-protocol.js';

/** Niceness of experiment processes: the proxy's threads (0) always come first. */
const EXPERIMENT_NICENESS = 10;

/**
 * Linux keeps a niceness per thread, and a thread starts with that of the thread that started it: every thread
 * already running (V8's, libuv's pool, a loader's) is lowered, so that all started later are too. Elsewhere
 * the niceness of a process is one.
 */
function lowerPriority(niceness: number): void {
  let threads: string[] = [];
  try {
    threads = readdirSync('/proc/self/task');
  } catch {
    // not Linux
  }
  if (threads.length === 0) return setPriority(niceness);
  for (const tid of threads) {
    try {
      setPriority(Number(tid), niceness);
    } catch {
      // a thread that has ended since
    }
  }
}

lowerPriority(EXPERIMENT_NICENESS);

// Imported only now: loading sharp starts libvips, whose threads must inherit the priority.
const { runTask } = await import('./experiment-worker.js');

process.on('message', (task: ExperimentTask) => {
  const before = process.cpuUsage();
  runTask(task)
    .then((outcome) => {
      const cpu = process.cpuUsage(before);
      process.send?.({ id: task.id, outcome, cpuSeconds: (cpu.user + cpu.system) / 1e6, rssBytes: process.memoryUsage.rss() } satisfies WorkerReply);
    })
    // Only sending can fail here, once the proxy is gone: 'disconnect' ends this process.
    .catch(() => undefined);
});
// The proxy is gone (even by kill -9): its experiments are of no use to anyone.
process.on('disconnect', () => process.exit(0));
