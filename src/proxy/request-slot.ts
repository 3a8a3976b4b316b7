/**
 * A value attached to one request, response or socket for as long as that object lives.
 *
 * Not a WeakMap: V8's young-generation collector keeps a WeakMap's values alive whatever becomes of their keys,
 * and a value that reaches back to its key (a closure over the response, the request through `res.req`) keeps the
 * key too. Every request's objects then outlived the scavenges and were promoted, to be freed by full collections
 * only: measured on a pass-through under load, scavenges took 3–4 ms instead of 0.4, 1.8 MB was promoted at each,
 * and a mark-compact ran every second. A property goes when its owner goes, at the first scavenge.
 */
export class RequestSlot<Owner extends object, Value> {
  private readonly key: symbol;

  constructor(name: string) {
    this.key = Symbol(name);
  }

  get(owner: Owner): Value | undefined {
    return (owner as unknown as Record<symbol, Value | undefined>)[this.key];
  }

  set(owner: Owner, value: Value): void {
    (owner as unknown as Record<symbol, Value | undefined>)[this.key] = value;
  }

  has(owner: Owner): boolean {
    return this.get(owner) !== undefined;
  }
}
