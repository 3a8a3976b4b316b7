/**
 * `<limits max-buffered>`: the bytes of image bodies the proxy holds in memory at once, over every request
 * (originals being fetched whole, stored bodies being sent). What does not fit streams through instead, so
 * many concurrent large images cost the origin bandwidth, never the proxy its memory.
 */
export class MemoryBudget {
  private held = 0;

  constructor(
    readonly capacity: number,
    /** Hears the bytes held after every change (the `slimproxy_buffered_bytes` gauge). */
    private readonly onChange: (held: number) => void = () => undefined,
  ) {}

  get used(): number {
    return this.held;
  }

  /** A hold of `bytes` now, or `undefined` when they do not fit. */
  reserve(bytes: number): Reservation | undefined {
    if (!this.fits(bytes)) return undefined;
    this.change(bytes);
    return new Reservation(this, bytes);
  }

  fits(bytes: number): boolean {
    return this.held + bytes <= this.capacity;
  }

  /** @internal for `Reservation` */
  change(delta: number): void {
    this.held = Math.max(0, this.held + delta);
    this.onChange(this.held);
  }
}

/** Bytes held under a budget until released (once: later releases do nothing). */
export class Reservation {
  private released = false;

  constructor(
    private readonly budget: MemoryBudget,
    private bytes: number,
  ) {}

  get size(): number {
    return this.bytes;
  }

  /** Holds `more` bytes too; false (holding nothing more) when they do not fit. */
  grow(more: number): boolean {
    if (this.released || !this.budget.fits(more)) return false;
    this.bytes += more;
    this.budget.change(more);
    return true;
  }

  /** Holds `less` bytes fewer (never below none). */
  shrink(less: number): void {
    if (this.released) return;
    const given = Math.min(less, this.bytes);
    this.bytes -= given;
    this.budget.change(-given);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.change(-this.bytes);
  }
}
