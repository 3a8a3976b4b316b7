import { randomUUID } from 'node:crypto';
import { EXPERIMENT_FORMAT, MIME_TYPES, type VariantFormat } from '../images/experiment.js';
import type { VariantRecord } from '../store/records.js';
import type { RedisLink } from './redis-link.js';

/** Variants larger than this are not published (instances make them themselves): Redis memory stays bounded. */
const MAX_PUBLISHED_BYTES = 4 * 2 ** 20;
/** Published bytes expire a week after they were last read or written. */
const BYTES_TTL_SECONDS = 7 * 24 * 3600;
/** Progress and best facts expire 30 days after an image was last asked for anywhere in the cluster. */
const FACTS_TTL_SECONDS = 30 * 24 * 3600;
/**
 * Offered jobs kept in Redis at most (about 200 bytes each). Past it the least requested go: their makers still
 * hold them in their local queues, so nothing is lost but the chance of being stolen.
 */
const MAX_OFFERED = 10_000;
/** Images whose request counts are kept (about 100 bytes each); past it the least requested are forgotten. */
const MAX_COUNTED = 100_000;


/** An experiment an instance could not start at once, offered to idle instances (work stealing). */
export interface OfferedExperiment {
  readonly key: string;
  /** The mark whose request wanted it: a taker runs only what that mark's plan has. */
  readonly mark: string;
  readonly experiment: string;
  readonly originalDigest: string;
}

/** What the cluster knows of an original when a request comes in. */
export interface ClusterView {
  /** The cluster-wide request count of the image, this request included (when counted). */
  readonly requests?: number;
  /** Experiments done anywhere in the cluster on this original (by its digest), under these settings. */
  readonly done: readonly string[];
  /** The facts of the experiments' published outcomes (of those asked for), each checked to be well formed. */
  readonly outcomes: readonly VariantRecord[];
  /** Of those asked for, the experiments done with nothing kept (no outcome smaller than the original, or none within d). */
  readonly nothingKept: readonly string[];
  /** The experiments asked for: only for these does the view say whether their outcome can be had. */
  readonly asked: readonly string[];
  /** How many outcome facts were there but not well formed: they were deleted (the next one made is published). */
  readonly damaged?: number;
}

/** The one spelling of a job in the queue (members must be identical to be the same job). */
const member = (job: OfferedExperiment) => JSON.stringify([job.key, job.mark, job.experiment, job.originalDigest]);

/** An experiment's outcome key when it ran and kept nothing: "done" and "its facts expired" are then told apart. */
const NOTHING_KEPT = 'nothing-kept';

/**
 * Publishes an outcome's facts unless the cluster's for the same (original, experiment) is as small; a value that
 * is not what this script writes (another version, damage) is replaced.
 */
const PUBLISH_BEST = `
local current = redis.call('GET', KEYS[1])
if current and current ~= '${NOTHING_KEPT}' then
  local ok, parsed = pcall(cjson.decode, current)
  if ok and type(parsed) == 'table' and tonumber(parsed.size) and tonumber(parsed.size) <= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1`;

/**
 * Offers a job (a job offered again keeps its highest count), keeps the queue within its bound, and wakes idle
 * instances only for a job new to the queue: a busy instance offers again on every request.
 */
const OFFER = `
local added = redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
if added == 1 then redis.call('PUBLISH', KEYS[2], '1') end
return added`;

/** Extends a lease only if this instance still holds it. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/** Deletes a key only if it holds this value (a lease this instance holds, facts found damaged). */
const DELETE_IF = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/**
 * Facts read from Redis, if they are what an instance would have written for this original: anything else (an
 * older version's shape, damage, another program's key) is ignored rather than served. The bytes they point to
 * are still checked against `digest` before use.
 */
function parseVariantFacts(text: string | null | undefined, originalDigest: string): VariantRecord | undefined {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const plainText = (v: unknown) => v === undefined || (typeof v === 'string' && !/[\r\n]/.test(v));
  const wellFormed =
    r.originalDigest === originalDigest &&
    typeof r.digest === 'string' &&
    HEX_DIGEST.test(r.digest) &&
    Number.isSafeInteger(r.size) &&
    (r.size as number) > 0 &&
    typeof r.experiment === 'string' &&
    Object.hasOwn(EXPERIMENT_FORMAT, r.experiment) &&
    // The format its experiment makes: a record may not decide that a JPEG re-encode is an SVG.
    r.format === EXPERIMENT_FORMAT[r.experiment as keyof typeof EXPERIMENT_FORMAT] &&
    r.contentType === MIME_TYPES[r.format as VariantFormat] &&
    (r.quality === undefined || typeof r.quality === 'number') &&
    typeof r.dssim === 'number' &&
    (r.contentEncoding === undefined || r.contentEncoding === 'gzip') &&
    plainText(r.shortfall) &&
    plainText(r.operations) &&
    typeof r.createdAt === 'number';
  return wellFormed ? (r as unknown as VariantRecord) : undefined;
}

/**
 * What the instances of a cluster share about images (issue "Scale out"): request counts, which experiments have
 * run on each original (by digest), leases on running experiments, each experiment's outcome (facts and bytes),
 * shared by every mark as in the store (issue 17), and the jobs busy instances offer. Each call answers `undefined` when Redis is away: the instance then
 * goes on with what it knows locally.
 */
export class SharedImages {
  private readonly maxOffered: number;
  /** Lease holder's token: unique per process, even if two instances were given the same name. */
  private readonly token: string;
  private readonly k: ReturnType<typeof keys>;

  constructor(
    private readonly link: RedisLink,
    options: { readonly namespace: string; readonly maxOffered?: number },
  ) {
    this.maxOffered = options.maxOffered ?? MAX_OFFERED;
    this.token = `${link.instance} ${randomUUID()}`;
    this.k = keys(options.namespace);
  }

  get instance(): string {
    return this.link.instance;
  }

  /**
   * Reads an original's progress and the published outcomes of `experiments`, keeping them from expiring, and with
   * `countFor` counts a request for that URL: one round trip.
   */
  async look(originalDigest: string, experiments: readonly string[], countFor?: string): Promise<ClusterView | undefined> {
    const progress = this.k.progress(originalDigest);
    const replies = await this.link.pipeline((p) => {
      if (countFor !== undefined) p.zincrby(this.k.requests, 1, countFor).zremrangebyrank(this.k.requests, 0, -(MAX_COUNTED + 1));
      p.smembers(progress).expire(progress, FACTS_TTL_SECONDS);
      for (const experiment of experiments) p.getex(this.k.outcome(originalDigest, experiment), 'EX', FACTS_TTL_SECONDS);
      return p;
    });
    if (!replies) return undefined;
    const counted = countFor !== undefined ? 2 : 0;
    const done = replies[counted] as string[] | undefined;
    const texts = replies.slice(counted + 2) as (string | null | undefined)[];
    const outcomes: VariantRecord[] = [];
    const nothingKept: string[] = [];
    let damaged = 0;
    for (const [i, text] of texts.entries()) {
      if (text === NOTHING_KEPT) {
        nothingKept.push(experiments[i]!);
        continue;
      }
      const facts = parseVariantFacts(text, originalDigest);
      // Facts under another experiment's key are as damaged as unreadable ones.
      if (facts && facts.experiment === experiments[i]) outcomes.push(facts);
      else if (typeof text === 'string') {
        damaged += 1;
        await this.link.run((redis) => redis.eval(DELETE_IF, 1, this.k.outcome(originalDigest, experiments[i]!), text));
      }
    }
    return {
      ...(countFor !== undefined && replies[0] !== undefined ? { requests: Number(replies[0]) } : {}),
      done: Array.isArray(done) ? done : [],
      outcomes,
      nothingKept,
      asked: experiments,
      ...(damaged > 0 ? { damaged } : {}),
    };
  }

  /**
   * Records an experiment as done. With `kept` false (it kept nothing) its outcome key says so, unless an outcome
   * is there already: another instance reading "done" and no facts then knows the facts were lost (expired,
   * evicted), and runs the experiment itself rather than call a mark final without it.
   */
  async markDone(originalDigest: string, experiment: string, kept: boolean): Promise<void> {
    const progress = this.k.progress(originalDigest);
    await this.link.pipeline((p) => {
      if (!kept) p.set(this.k.outcome(originalDigest, experiment), NOTHING_KEPT, 'EX', FACTS_TTL_SECONDS, 'NX');
      return p.sadd(progress, experiment).expire(progress, FACTS_TTL_SECONDS);
    });
  }

  /** Which of these experiments another instance runs now (one round trip). */
  async leasedElsewhere(originalDigest: string, experiments: readonly string[]): Promise<Set<string> | undefined> {
    if (experiments.length === 0) return new Set();
    const holders = await this.link.run((redis) => redis.mget(experiments.map((name) => this.k.lease(originalDigest, name))));
    if (!holders) return undefined;
    return new Set(experiments.filter((_, i) => holders[i] !== null && holders[i] !== this.token));
  }

  /**
   * Takes the lease on an experiment for `ms` (it lapses if this instance dies): true if taken, false if another
   * instance holds it, `undefined` without Redis (run it locally then).
   */
  async lease(originalDigest: string, experiment: string, ms: number): Promise<boolean | undefined> {
    const taken = await this.link.run((redis) => redis.set(this.k.lease(originalDigest, experiment), this.token, 'PX', ms, 'NX'));
    return taken === undefined ? undefined : taken === 'OK';
  }

  /** Extends this instance's lease: false if it was lost (it lapsed, and perhaps another instance took it). */
  async renew(originalDigest: string, experiment: string, ms: number): Promise<boolean | undefined> {
    const renewed = await this.link.run((redis) => redis.eval(RENEW, 1, this.k.lease(originalDigest, experiment), this.token, String(ms)));
    return renewed === undefined ? undefined : renewed === 1;
  }

  async release(originalDigest: string, experiment: string): Promise<void> {
    await this.link.run((redis) => redis.eval(DELETE_IF, 1, this.k.lease(originalDigest, experiment), this.token));
  }

  /**
   * Publishes an experiment's outcome: its facts (unless the cluster has a smaller one for the same experiment),
   * its bytes when not too large (without them, other instances run the experiment themselves).
   */
  async publish(record: VariantRecord, bytes: Buffer): Promise<boolean | undefined> {
    // Bytes first: whoever sees the facts can fetch them.
    if (bytes.length <= MAX_PUBLISHED_BYTES) {
      const stored = await this.link.run((redis) => redis.set(this.k.bytes(record.digest), bytes, 'EX', BYTES_TTL_SECONDS));
      if (stored === undefined) return undefined;
    }
    const key = this.k.outcome(record.originalDigest, record.experiment);
    const published = await this.link.run((redis) => redis.eval(PUBLISH_BEST, 1, key, JSON.stringify(record), String(record.size), String(FACTS_TTL_SECONDS)));
    return published === undefined ? undefined : published === 1;
  }

  /** A published variant's bytes (kept another week), or `undefined` (expired, evicted, too large, or no Redis). */
  async bytes(digest: string): Promise<Buffer | undefined> {
    return (await this.link.run((redis) => redis.getexBuffer(this.k.bytes(digest), 'EX', BYTES_TTL_SECONDS))) ?? undefined;
  }

  /**
   * Offers a job to the cluster, ordered by the cluster's request count, and wakes idle instances if it is new to
   * the queue. The queue keeps only the `maxOffered` most requested jobs.
   */
  async offer(job: OfferedExperiment, requests: number): Promise<void> {
    await this.link.run((redis) => redis.eval(OFFER, 2, this.k.queue, this.k.offered, String(requests), member(job), String(this.maxOffered)));
  }

  /** Takes the most requested offered job, if any (whoever takes it still needs its lease to run it). */
  async take(): Promise<OfferedExperiment | undefined> {
    const popped = await this.link.run((redis) => redis.zpopmax(this.k.queue));
    const text = popped?.[0];
    if (!text) return undefined;
    try {
      const [key, mark, experiment, originalDigest] = JSON.parse(text) as unknown[];
      const strings = [key, mark, experiment, originalDigest].every((v) => typeof v === 'string' && v !== '');
      // A path on the origin, as every key is.
      return strings && (key as string).startsWith('/') ? ({ key, mark, experiment, originalDigest } as OfferedExperiment) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Takes a job off the queue (its maker runs it after all). */
  async withdraw(job: OfferedExperiment): Promise<void> {
    await this.link.run((redis) => redis.zrem(this.k.queue, member(job)));
  }

  /** Calls `listener` whenever some instance offers a job. */
  onOffered(listener: () => void): void {
    this.link.subscribe(this.k.offered, listener);
  }
}

/**
 * The key space. Per-image keys are by the original's digest, not its URL: an instance that still has an older
 * version of an image cannot undo the progress made on the new one, and the same picture under two URLs is worked
 * on once. Variant bytes are addressed by their own digest, the same under any settings.
 */
function keys(namespace: string) {
  // v2: outcomes per (original, experiment), shared by every mark (v1 kept a best variant per mark).
  const prefix = `sp:v2:${namespace}`;
  return {
    requests: 'sp:v1:requests',
    progress: (originalDigest: string) => `${prefix}:progress:${originalDigest}`,
    lease: (originalDigest: string, experiment: string) => `${prefix}:lease:${originalDigest}\u0000${experiment}`,
    outcome: (originalDigest: string, experiment: string) => `${prefix}:outcome:${originalDigest}\u0000${experiment}`,
    bytes: (digest: string) => `sp:v1:bytes:${digest}`,
    queue: `${prefix}:queue`,
    offered: `${prefix}:offered`,
  };
}
