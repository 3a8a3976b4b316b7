import { Worker } from 'node:worker_threads';
import type { EngineSettings, ExperimentName, ExperimentOutcome, Variant } from './experiment.js';
import type { ProbeLimits } from './probe.js';
import type { ExperimentTask, WorkerReply } from './worker-protocol.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./experiment-worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url);

/** Built, the worker is plain JavaScript; run from source (tests, `npm run dev`) it needs tsx's loader first. */
function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL);
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`, { eval: true });
}

interface Pending {
  readonly task: ExperimentTask;
  readonly resolve: (outcome: ExperimentOutcome) => void;
}

/**
 * At most `size` experiments at once (SPEC §6 `max-image-processes`), each in a worker thread: the event loop
 * only hands out work and takes results. A worker that dies fails its experiment with a reason and is replaced.
 */
export class ExperimentPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(readonly size: number) {}

  get running(): number {
    return this.busy.size;
  }

  get waiting(): number {
    return this.queue.length;
  }

  run(experiment: ExperimentName, bytes: Uint8Array, settings: EngineSettings, limits: ProbeLimits): Promise<ExperimentOutcome> {
    if (this.closed) return Promise.resolve({ ok: false, reason: 'shutting down', encodes: 0, ms: 0 });
    // A view into a larger buffer (a region of the store's map) would be cloned whole by postMessage, and may be
    // given back before the task is sent: the task gets the bytes alone, its own.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : Buffer.from(bytes);
    return new Promise((resolve) => {
      this.queue.push({ task: { id: this.nextId++, experiment, bytes: own, settings, limits }, resolve });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) pending.resolve({ ok: false, reason: 'shutting down', encodes: 0, ms: 0 });
    await Promise.all([...this.idle, ...this.busy.keys()].map((worker) => worker.terminate()));
    this.idle.length = 0;
  }

  private dispatch(): void {
    while (this.queue.length > 0 && (this.idle.length > 0 || this.busy.size < this.size)) {
      const worker = this.idle.pop() ?? this.spawn();
      const pending = this.queue.shift()!;
      this.busy.set(worker, pending);
      worker.postMessage(pending.task);
    }
  }

  private spawn(): Worker {
    const worker = startWorker();
    worker.on('message', (reply: WorkerReply) => {
      const pending = this.busy.get(worker);
      if (!pending || pending.task.id !== reply.id) return;
      this.busy.delete(worker);
      pending.resolve(restoreBuffers(reply.outcome));
      if (!this.closed) this.idle.push(worker);
      this.dispatch();
    });
    const fail = (why: string) => {
      const pending = this.busy.get(worker);
      this.busy.delete(worker);
      pending?.resolve({ ok: false, reason: why, encodes: 0, ms: 0 });
      this.dispatch();
    };
    worker.on('error', (err) => fail(`experiment worker failed: ${err.message}`));
    worker.on('exit', (code) => {
      const index = this.idle.indexOf(worker);
      if (index >= 0) this.idle.splice(index, 1);
      if (this.busy.has(worker)) fail(`experiment worker exited (${code})`);
    });
    return worker;
  }
}

/** Buffers arrive from a worker as plain Uint8Arrays. */
function restoreBuffers(outcome: ExperimentOutcome): ExperimentOutcome {
  if (!outcome.ok) return outcome;
  const v = outcome.variant;
  const variant: Variant = {
    ...v,
    bytes: Buffer.from(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength),
    ...(v.transfer ? { transfer: { ...v.transfer, bytes: Buffer.from(v.transfer.bytes.buffer, v.transfer.bytes.byteOffset, v.transfer.bytes.byteLength) } } : {}),
  };
  return { ...outcome, variant };
}
