/** What `offer` did with a job. */
export type Offered = 'queued' | 'reprioritised' | 'already running' | 'queue full';

interface Waiting {
  readonly key: string;
  priority: number;
  readonly seq: number;
  run: () => Promise<void>;
}

/**
 * The traffic-aware queue of SPEC §6: one job per key (an experiment on an original), ordered by how often the image is requested
 * (most-requested first; first come first among equals), at most `concurrency` running, never the same key twice
 * at once, and bounded: when full, the least requested job gives way (or the new one is refused if it is that).
 * Serving never waits for it: `offer` returns at once.
 */
export class ExperimentQueue {
  private readonly waiting = new Map<string, Waiting>();
  private readonly active = new Set<string>();
  private seq = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    readonly concurrency: number,
    readonly capacity: number,
  ) {}

  get queued(): number {
    return this.waiting.size;
  }

  get running(): number {
    return this.active.size;
  }

  /** Whether a job of this key waits or runs. */
  has(key: string): boolean {
    return this.waiting.has(key) || this.active.has(key);
  }

  /** False once closed (shutdown): offers are refused. */
  get accepting(): boolean {
    return !this.closed;
  }

  offer(key: string, priority: number, run: () => Promise<void>): Offered {
    if (this.closed) return 'queue full';
    if (this.active.has(key)) return 'already running';
    const existing = this.waiting.get(key);
    if (existing) {
      existing.priority = Math.max(existing.priority, priority);
      existing.run = run;
      return 'reprioritised';
    }
    if (this.waiting.size >= this.capacity) {
      const weakest = this.lowest();
      if (!weakest || weakest.priority >= priority) return 'queue full';
      this.waiting.delete(weakest.key);
    }
    this.waiting.set(key, { key, priority, seq: this.seq++, run });
    this.dispatch();
    return 'queued';
  }

  /** Raises a waiting job to `priority` if that is higher (a running one is left as it is). */
  raise(key: string, priority: number): void {
    const existing = this.waiting.get(key);
    if (existing) existing.priority = Math.max(existing.priority, priority);
  }

  /** Drops what waits and takes nothing new (shutdown); what runs finishes. */
  close(): void {
    this.closed = true;
    this.waiting.clear();
    if (this.active.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves when nothing is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.waiting.size === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private dispatch(): void {
    while (this.active.size < this.concurrency && this.waiting.size > 0) {
      const next = this.highest()!;
      this.waiting.delete(next.key);
      this.active.add(next.key);
      void next
        .run()
        .catch(() => undefined)
        .finally(() => {
          this.active.delete(next.key);
          this.dispatch();
          if (this.waiting.size === 0 && this.active.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
        });
    }
  }

  private highest(): Waiting | undefined {
    let best: Waiting | undefined;
    for (const job of this.waiting.values()) if (!best || job.priority > best.priority || (job.priority === best.priority && job.seq < best.seq)) best = job;
    return best;
  }

  private lowest(): Waiting | undefined {
    let worst: Waiting | undefined;
    for (const job of this.waiting.values()) if (!worst || job.priority < worst.priority || (job.priority === worst.priority && job.seq > worst.seq)) worst = job;
    return worst;
  }
}
