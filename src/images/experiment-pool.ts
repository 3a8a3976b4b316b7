import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EngineSettings, ExperimentName, ExperimentOutcome, KnownSizes, Variant } from './experiment.js';
import type { ProbeLimits } from './probe.js';
import type { ExperimentTask, WorkerReply } from './worker-protocol.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(`./experiment-process.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url));

/**
 * Built, the entry is plain JavaScript; run from source (tests, `npm run dev`) it needs tsx's loader. Messages
 * are structured clones ('advanced'): bytes travel as bytes, not as JSON arrays of numbers.
 */
function startWorker(): ChildProcess {
  const execArgv = FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : [];
  return fork(ENTRY, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

interface Pending {
  /** The task; once sent, without its bytes (the process has its copy: held here they would only weigh). */
  task: ExperimentTask;
  readonly urgent: boolean;
  readonly resolve: (outcome: ExperimentOutcome) => void;
  /** Its deadline's timer while it runs; `overran` once the deadline stopped it. */
  deadline?: NodeJS.Timeout;
  overran?: boolean;
}

/** What bounds one task: its time, and what its process may keep of memory after it. */
export interface PoolBounds {
  /** A task still running after this is stopped (its process killed) and fails saying so (`max-experiment-time`). */
  readonly maxTaskMs: number;
  /** A process resident above this after a task is replaced rather than kept (`max-experiment-memory`). */
  readonly maxRssBytes: number;
}

const UNBOUNDED: PoolBounds = { maxTaskMs: Infinity, maxRssBytes: Infinity };

/**
 * Work a request waits for (a conversion, an image-options transform) queued at most this many per process: each
 * waiting task holds its original's bytes, and each comes from a request anyone can send with a new URL.
 */
const URGENT_WAITING_PER_PROCESS = 4;

const NO_BYTES = new Uint8Array(0);

/**
 * At most `size` experiments at once (SPEC §6 `max-image-processes`), each in a process of its own at a lower
 * priority (`experiment-process.ts`): the event loop only hands out work and takes results. A process that
 * dies (a decoder's crash, the kernel's OOM killer) fails its experiment with a reason and is replaced.
 */
export class ExperimentPool {
  private readonly idle: ChildProcess[] = [];
  private readonly busy = new Map<ChildProcess, Pending>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  /** `onCpu`: the CPU seconds each experiment took in its process (all its threads), as it ends. */
  constructor(
    readonly size: number,
    private readonly onCpu: (experiment: ExperimentName, seconds: number) => void = () => undefined,
    private readonly bounds: PoolBounds = UNBOUNDED,
  ) {}

  get running(): number {
    return this.busy.size;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Runs an experiment, or with `urgent` work a request waits for: that goes ahead of every experiment waiting,
   * and is refused at once (a reason, not a wait) while `URGENT_WAITING_PER_PROCESS` per process are waiting.
   * `known`: the original's other outcomes (see `KnownSizes`).
   */
  run(experiment: ExperimentName, bytes: Uint8Array, settings: EngineSettings, limits: ProbeLimits, options: { readonly urgent?: boolean; readonly known?: KnownSizes } = {}): Promise<ExperimentOutcome> {
    const urgent = options.urgent ?? false;
    if (this.closed) return Promise.resolve({ ok: false, reason: 'shutting down', encodes: 0, ms: 0 });
    if (urgent && this.queue.filter((pending) => pending.urgent).length >= URGENT_WAITING_PER_PROCESS * this.size) {
      return Promise.resolve({ ok: false, reason: 'too many conversions waiting for an image process', encodes: 0, ms: 0 });
    }
    // A view (a region of the store's map) may be given back before the task is sent, and would be cloned whole
    // with the buffer it is a view of: a queued task holds the bytes alone, its own.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : Buffer.from(bytes);
    return new Promise((resolve) => {
      const pending: Pending = { task: { id: this.nextId++, experiment, bytes: own, settings, limits, ...(options.known ? { known: options.known } : {}) }, urgent, resolve };
      const firstNotUrgent = this.queue.findIndex((waiting) => !waiting.urgent);
      if (urgent && firstNotUrgent >= 0) this.queue.splice(firstNotUrgent, 0, pending);
      else this.queue.push(pending);
      this.dispatch();
    });
  }

  /** Process ids of the experiment processes now (the status of a process tree; tests). */
  get pids(): number[] {
    return [...this.idle, ...this.busy.keys()].flatMap((worker) => (worker.pid === undefined ? [] : [worker.pid]));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) pending.resolve({ ok: false, reason: 'shutting down', encodes: 0, ms: 0 });
    await Promise.all([...this.idle, ...this.busy.keys()].map(stop));
    this.idle.length = 0;
  }

  private dispatch(): void {
    while (this.queue.length > 0 && (this.idle.length > 0 || this.busy.size < this.size)) {
      // An idle process that has ended (its 'exit' not handled yet) is no place for a task: it would fail as if
      // its image had crashed it.
      let worker = this.idle.pop();
      while (worker && !worker.connected) worker = this.idle.pop();
      worker ??= this.spawn();
      const pending = this.queue.shift()!;
      this.busy.set(worker, pending);
      worker.send(pending.task);
      if (Number.isFinite(this.bounds.maxTaskMs)) {
        const running = worker;
        pending.deadline = setTimeout(() => {
          if (this.busy.get(running) !== pending) return;
          // Encoders cannot be interrupted: the process goes, and its 'exit' fails the task with this reason.
          pending.overran = true;
          running.kill('SIGKILL');
        }, this.bounds.maxTaskMs).unref();
      }
      pending.task = { ...pending.task, bytes: NO_BYTES };
    }
  }

  private spawn(): ChildProcess {
    const worker = startWorker();
    worker.on('message', (reply: WorkerReply) => {
      const pending = this.busy.get(worker);
      if (!pending || pending.task.id !== reply.id) return;
      clearTimeout(pending.deadline);
      this.busy.delete(worker);
      this.onCpu(pending.task.experiment, reply.cpuSeconds);
      pending.resolve(restoreBuffers(reply.outcome));
      // libvips and the allocator keep what a large image took: a process grown past the bound is not kept.
      if ((reply.rssBytes ?? 0) > this.bounds.maxRssBytes) stop(worker).catch(() => undefined);
      else if (!this.closed) this.idle.push(worker);
      this.dispatch();
    });
    const fail = (why: string) => {
      const pending = this.busy.get(worker);
      this.busy.delete(worker);
      clearTimeout(pending?.deadline);
      const reason = pending?.overran ? `stopped after ${Math.round(this.bounds.maxTaskMs / 1000)} s (max-experiment-time)` : why;
      // Ended by close(): the experiment did not fail, it was stopped (and runs again after a restart).
      pending?.resolve({ ok: false, reason: this.closed ? 'shutting down' : reason, encodes: 0, ms: 0 });
      this.dispatch();
    };
    worker.on('error', (err) => fail(`experiment process failed: ${err.message}`));
    worker.on('exit', (code, signal) => {
      const index = this.idle.indexOf(worker);
      if (index >= 0) this.idle.splice(index, 1);
      if (this.busy.has(worker)) fail(`experiment process ended (${signal ?? `exit code ${code}`})`);
    });
    return worker;
  }
}

/** Ends a process and waits until it has. */
function stop(worker: ChildProcess): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    worker.once('exit', () => resolve());
    worker.kill('SIGKILL');
  });
}

/**
 * Buffers arrive from a process as plain Uint8Arrays. A reply that is not whole (a variant without bytes: a defect
 * in an experiment) is a failed experiment, not an exception in the proxy's message handler.
 */
function restoreBuffers(outcome: ExperimentOutcome): ExperimentOutcome {
  if (!outcome.ok) return outcome;
  const v = outcome.variant;
  if (!(v?.bytes instanceof Uint8Array) || (v.transfer && !(v.transfer.bytes instanceof Uint8Array))) {
    return { ok: false, reason: `failed: the experiment's answer has no bytes`, encodes: outcome.encodes, ms: outcome.ms };
  }
  const variant: Variant = {
    ...v,
    bytes: Buffer.from(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength),
    ...(v.transfer ? { transfer: { ...v.transfer, bytes: Buffer.from(v.transfer.bytes.buffer, v.transfer.bytes.byteOffset, v.transfer.bytes.byteLength) } } : {}),
  };
  return { ...outcome, variant };
}
