/**
 * What an experiment process does with a task (`experiment-process.ts` is its entry). It keeps the last
 * originals it prepared: the next experiment on the same image reuses the decoded pixels and the DSSIM
 * reference. What they may hold together stays within `<limits max-experiment-memory>` (issue 16).
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { ExperimentOutcome } from './experiment.js';
import { DEFAULT_MAX_EXPERIMENT_BYTES, type PreparedOriginal, prepareOriginal } from './original.js';
import { EXPERIMENTS } from './plan.js';
import type { ProbeLimits } from './probe.js';
import type { ExperimentTask } from './worker-protocol.js';

/**
 * Originals kept prepared (decoded pixels, DSSIM reference): two cover the common case of the next experiment
 * being on the same image, and each costs tens of MB for a large photograph (4 gave 826 MB peak RSS browsing
 * the demo site to final, against 598 MB with 2 and the settings below).
 */
const KEEP = 2;
// Each experiment works on an image the operation cache has not seen and will not see again: its up to 50 MB
// of kept results are memory spent for nothing.
sharp.cache(false);

const keyOf = (bytes: Uint8Array, limits: ProbeLimits) => createHash('sha256').update(bytes).digest('hex') + JSON.stringify(limits);

/** What experiments on an original may hold (`experimentMemory`); 0 until known, and for an original refused. */
interface Room {
  bytes: number;
}

interface Entry {
  readonly original: Promise<PreparedOriginal>;
  readonly room: Room;
}

/**
 * The prepared originals, at most `keep` and together within `<limits max-experiment-memory>`: an original
 * about to be decoded first lets go of older ones until what it needs fits beside those left. One that cannot
 * fit even alone never gets that far: `prepareOriginal` refuses it with a reason.
 */
export class PreparedOriginals {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly keep = KEEP) {}

  has(bytes: Uint8Array, limits: ProbeLimits): boolean {
    return this.entries.has(keyOf(bytes, limits));
  }

  get(bytes: Uint8Array, limits: ProbeLimits): Promise<PreparedOriginal> {
    const key = keyOf(bytes, limits);
    const hit = this.entries.get(key);
    if (hit) {
      // Most recently used last: eviction takes the oldest first.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.original;
    }
    while (this.entries.size >= this.keep && this.evictOldest()) {
      // one fewer
    }
    const bound = limits.maxMemoryBytes ?? DEFAULT_MAX_EXPERIMENT_BYTES;
    const room: Room = { bytes: 0 };
    const makeRoom = (needed: number) => this.makeRoom(room, needed, bound);
    const original = prepareOriginal(Buffer.from(bytes), limits, { makeRoom }).then((prepared) => {
      if (!prepared.ok) room.bytes = 0;
      return prepared;
    });
    this.entries.set(key, { original, room });
    return original;
  }

  private makeRoom(room: Room, needed: number, bound: number): void {
    room.bytes = needed;
    while (this.heldBy(room) + needed > bound && this.evictOldest(room)) {
      // one fewer
    }
  }

  /** Bytes the kept originals may hold, but for `except`. */
  private heldBy(except: Room): number {
    let total = 0;
    for (const { room } of this.entries.values()) if (room !== except) total += room.bytes;
    return total;
  }

  /** Lets go of the oldest original but for `except`; false when there is none. */
  private evictOldest(except?: Room): boolean {
    for (const [key, { room }] of this.entries) {
      if (room === except) continue;
      this.entries.delete(key);
      return true;
    }
    return false;
  }

  /** Bytes the kept originals may hold together. */
  get bytes(): number {
    let total = 0;
    for (const { room } of this.entries.values()) total += room.bytes;
    return total;
  }

  get size(): number {
    return this.entries.size;
  }
}

const prepared = new PreparedOriginals();

/** Runs one task; whatever goes wrong (preparing may throw: an animation's metadata read) is a reason. */
export async function runTask(task: ExperimentTask): Promise<ExperimentOutcome> {
  try {
    const original = await prepared.get(task.bytes, task.limits);
    if (!original.ok) return { ok: false, reason: original.reason, unusable: true, encodes: 0, ms: 0 };
    return await EXPERIMENTS[task.experiment].run(original.original, task.settings, task.known);
  } catch (err) {
    return { ok: false, reason: `failed: ${(err as Error).message}`, encodes: 0, ms: 0 };
  }
}
