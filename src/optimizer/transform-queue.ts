/** What `run` did with a job: started or queued it, joined the same job already there, or had no room for it. */
export type Admission<T> = { readonly kind: 'started' | 'queued' | 'joined'; readonly result: Promise<T> } | { readonly kind: 'full' };

interface Waiting {
  readonly start: () => void;
}

/**
 * Work made to order for requests (image-API transforms, scaled images): any URL a client writes is a new job, so
 * at most `maxWaiting` wait (`<image-api max-queue>`) and the rest are refused at once, never queued without end
 * nor waited for. At most `concurrency` run (are handed to the image processes); one job per key, a request for a
 * key already waiting or running joins it and is not counted again. A waiting job holds only its closure: the
 * bytes it works on are read when it starts.
 */
export class TransformQueue<T> {
  private readonly jobs = new Map<string, Promise<T>>();
  private readonly waiting: Waiting[] = [];
  private active = 0;
  private peak = 0;

  constructor(
    readonly maxWaiting: number,
    readonly concurrency: number,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  get running(): number {
    return this.active;
  }

  /** The most jobs that ever waited at once: never above `maxWaiting` (metrics, tests). */
  get peakQueued(): number {
    return this.peak;
  }

  run(key: string, job: () => Promise<T>): Admission<T> {
    const existing = this.jobs.get(key);
    if (existing) return { kind: 'joined', result: existing };
    const startNow = this.active < this.concurrency;
    if (!startNow && this.waiting.length >= this.maxWaiting) return { kind: 'full' };
    const result = new Promise<T>((resolve, reject) => {
      const start = () => {
        this.active += 1;
        // A job that throws at once is a rejected result like any other, and frees its place all the same.
        Promise.resolve()
          .then(job)
          .then(resolve, reject)
          .finally(() => {
            this.active -= 1;
            this.jobs.delete(key);
            this.next();
          });
      };
      if (startNow) start();
      else this.waiting.push({ start });
    });
    this.jobs.set(key, result);
    this.peak = Math.max(this.peak, this.waiting.length);
    return { kind: startNow ? 'started' : 'queued', result };
  }

  private next(): void {
    while (this.active < this.concurrency && this.waiting.length > 0) this.waiting.shift()!.start();
  }
}
