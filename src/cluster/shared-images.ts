import type { VariantRecord } from '../store/records.js';
import type { RedisLink } from './redis-link.js';

/** Variants larger than this are not published (instances make them themselves): Redis memory stays bounded. */
export const MAX_PUBLISHED_BYTES = 4 * 2 ** 20;
/** Published bytes expire after a week without being refreshed; the facts stay (a few hundred bytes each). */
const BYTES_TTL_SECONDS = 7 * 24 * 3600;
/**
 * Offered jobs kept in Redis at most (about 200 bytes each). Past it the least requested go: their makers still
 * hold them in their local queues, so nothing is lost but the chance of being stolen.
 */
const MAX_OFFERED = 10_000;

const pair = (key: string, mark: string) => `${key}\u0000${mark}`;
const K = {
  requests: 'sp:requests',
  progress: (key: string, mark: string) => `sp:progress:${pair(key, mark)}`,
  lease: (key: string, mark: string, experiment: string) => `sp:lease:${pair(key, mark)}\u0000${experiment}`,
  best: (key: string, mark: string) => `sp:best:${pair(key, mark)}`,
  bytes: (digest: string) => `sp:bytes:${digest}`,
  queue: 'sp:queue',
  offered: 'sp:offered',
};

/** An experiment an instance could not start at once, offered to idle instances (work stealing). */
export interface OfferedExperiment {
  readonly key: string;
  readonly mark: string;
  readonly experiment: string;
  readonly originalDigest: string;
}

/** The one spelling of a job in the queue (members must be identical to be the same job). */
const member = (job: OfferedExperiment) => JSON.stringify([job.key, job.mark, job.experiment, job.originalDigest]);

/** Adds an experiment to the done list of an original (reset when the original changed). */
const MARK_DONE = `
local current = redis.call('GET', KEYS[1])
local done = {}
if current then
  local parsed = cjson.decode(current)
  if parsed.originalDigest == ARGV[1] then done = parsed.done end
end
for _, name in ipairs(done) do if name == ARGV[2] then return 0 end end
table.insert(done, ARGV[2])
redis.call('SET', KEYS[1], cjson.encode({ originalDigest = ARGV[1], done = done }))
return 1`;

/** Publishes a variant's facts if it is smaller than the cluster's best for the same original (or there is none). */
const PUBLISH_BEST = `
local current = redis.call('GET', KEYS[1])
if current then
  local parsed = cjson.decode(current)
  if parsed.originalDigest == ARGV[2] and tonumber(parsed.size) <= tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

/** Deletes a lease only if this instance holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * What the instances of a cluster share about images (issue "Scale out"): request counts, which experiments have
 * run for each (original, mark), leases on running experiments, and the best variant's facts and bytes. Each call
 * answers `undefined` when Redis is away: the instance then goes on with what it knows locally.
 */
export class SharedImages {
  private readonly maxOffered: number;

  constructor(
    private readonly link: RedisLink,
    options: { readonly maxOffered?: number } = {},
  ) {
    this.maxOffered = options.maxOffered ?? MAX_OFFERED;
  }

  get instance(): string {
    return this.link.instance;
  }

  /** The cluster-wide request count after this request. */
  async countRequest(key: string): Promise<number | undefined> {
    const count = await this.link.run((redis) => redis.zincrby(K.requests, 1, key));
    return count === undefined ? undefined : Number(count);
  }

  /** Experiments done anywhere in the cluster for (original, mark), for this original's digest. */
  async done(key: string, mark: string, originalDigest: string): Promise<string[] | undefined> {
    const text = await this.link.run((redis) => redis.get(K.progress(key, mark)));
    if (text === undefined) return undefined;
    if (text === null) return [];
    const parsed = JSON.parse(text) as { originalDigest: string; done: string[] | Record<string, never> };
    // cjson encodes an empty Lua table as an object.
    return parsed.originalDigest === originalDigest && Array.isArray(parsed.done) ? parsed.done : [];
  }

  async markDone(key: string, mark: string, originalDigest: string, experiment: string): Promise<void> {
    await this.link.run((redis) => redis.eval(MARK_DONE, 1, K.progress(key, mark), originalDigest, experiment));
  }

  /** Whether another instance runs this experiment now. */
  async leased(key: string, mark: string, experiment: string): Promise<boolean | undefined> {
    const holder = await this.link.run((redis) => redis.get(K.lease(key, mark, experiment)));
    return holder === undefined ? undefined : holder !== null && holder !== this.instance;
  }

  /**
   * Takes the lease on an experiment for `ms` (it lapses if this instance dies): true if taken, false if another
   * instance holds it, `undefined` without Redis (run it locally then).
   */
  async lease(key: string, mark: string, experiment: string, ms: number): Promise<boolean | undefined> {
    const taken = await this.link.run((redis) => redis.set(K.lease(key, mark, experiment), this.instance, 'PX', ms, 'NX'));
    return taken === undefined ? undefined : taken === 'OK';
  }

  async renew(key: string, mark: string, experiment: string, ms: number): Promise<void> {
    await this.link.run((redis) => redis.pexpire(K.lease(key, mark, experiment), ms));
  }

  async release(key: string, mark: string, experiment: string): Promise<void> {
    await this.link.run((redis) => redis.eval(RELEASE, 1, K.lease(key, mark, experiment), this.instance));
  }

  /** Publishes a variant (facts always, bytes when not too large) if it beats the cluster's best. */
  async publish(key: string, mark: string, record: VariantRecord, bytes: Buffer): Promise<boolean | undefined> {
    if (bytes.length > MAX_PUBLISHED_BYTES) return false;
    // Bytes first: whoever sees the facts can fetch them.
    const stored = await this.link.run((redis) => redis.set(K.bytes(record.digest), bytes, 'EX', BYTES_TTL_SECONDS));
    if (stored === undefined) return undefined;
    const published = await this.link.run((redis) => redis.eval(PUBLISH_BEST, 1, K.best(key, mark), JSON.stringify(record), record.originalDigest, String(record.size)));
    return published === undefined ? undefined : published === 1;
  }

  /**
   * Offers a job to the cluster, ordered by the cluster's request count (a job offered again keeps its highest),
   * and wakes idle instances. The queue keeps only the `maxOffered` most requested jobs.
   */
  async offer(job: OfferedExperiment, requests: number): Promise<void> {
    await this.link.run((redis) =>
      redis
        .multi()
        .zadd(K.queue, 'GT', requests, member(job))
        .zremrangebyrank(K.queue, 0, -(this.maxOffered + 1))
        .publish(K.offered, '1')
        .exec(),
    );
  }

  /** Takes the most requested offered job, if any (whoever takes it still needs its lease to run it). */
  async take(): Promise<OfferedExperiment | undefined> {
    const popped = await this.link.run((redis) => redis.zpopmax(K.queue));
    const text = popped?.[0];
    if (!text) return undefined;
    try {
      const [key, mark, experiment, originalDigest] = JSON.parse(text) as string[];
      return key && mark && experiment && originalDigest ? { key, mark, experiment, originalDigest } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Takes a job off the queue (its maker runs it after all). */
  async withdraw(job: OfferedExperiment): Promise<void> {
    await this.link.run((redis) => redis.zrem(K.queue, member(job)));
  }

  /** Calls `listener` whenever some instance offers a job. */
  onOffered(listener: () => void): void {
    this.link.subscribe(K.offered, listener);
  }

  /** The facts of the cluster's best variant for (original, mark), or `undefined` (cheap: a few hundred bytes). */
  async bestFacts(key: string, mark: string): Promise<VariantRecord | undefined> {
    const text = await this.link.run((redis) => redis.get(K.best(key, mark)));
    return text ? (JSON.parse(text) as VariantRecord) : undefined;
  }

  /** A published variant's bytes, or `undefined` (expired, evicted, too large to publish, or no Redis). */
  async bytes(digest: string): Promise<Buffer | undefined> {
    return (await this.link.run((redis) => redis.getBuffer(K.bytes(digest)))) ?? undefined;
  }
}
