import type { Capabilities } from '../../client/index.js';
import type { ClusterView } from '../../cluster/shared-images.js';
import { type ExperimentName, wireSize } from '../../images/experiment.js';
import { EXPERIMENTS, planForFacts } from '../../images/plan.js';
import { capabilitiesOfMark } from '../../marks/index.js';
import { logFailure } from '../../observability/log.js';
import { sha256, type StoredVariant } from '../../store/image-store.js';
import type { OriginalRecord, VariantRecord } from '../../store/records.js';
import { sourceOfKey } from '../image-source.js';
import { storedVariant } from '../stored-variant.js';
import { bytesType, inflatesToSvg } from './bytes-type.js';
import { discard, type Originals } from './originals.js';
import { CONVERTED_SLOT, type Outcomes } from './outcomes.js';
import type { ImageRouteParts } from './parts.js';

/**
 * What step 5 found: all of the mark's experiments have run (the response is final), or not; then, when this
 * request started none and every one left waits or runs here, their queue keys (`waitingFor`): until one of them
 * ends, a repeat of the request would find the same and only raise them (see `raise`).
 */
export type Schedule = { readonly final: true } | { readonly final: false; readonly waitingFor?: readonly string[] };

const FINAL: Schedule = { final: true };
const NOT_FINAL: Schedule = { final: false };

export interface Experiments {
  /**
   * Step 5: queues the next experiment of the mark's plan that is not done, queued or running (here, or in a
   * cluster under another instance's lease), if any remains.
   */
  scheduleNext(key: string, mark: string, capabilities: Capabilities, record: OriginalRecord, requests: number): Promise<Schedule>;
  /**
   * Whether every experiment of `waitingFor` still waits or runs: not when one was dropped from a full queue or the
   * queue closed; the request must then be scheduled again.
   */
  stillWaiting(waitingFor: readonly string[]): boolean;
  /** Whether every experiment of the mark's plan has run on the original (final), without queueing any. */
  allRun(key: string, capabilities: Capabilities, record: OriginalRecord): boolean;
  /** What `scheduleNext` does for a repeat request while `waitingFor` holds: those waiting raised to the image's count. */
  raise(waitingFor: readonly string[], requests: number): void;
  /** In a cluster: takes what other instances found for the original (see `adoptFromCluster`). */
  adoptFromCluster(key: string, record: OriginalRecord, view: ClusterView): Promise<void>;
  /**
   * An original the origin has only as WebP or AVIF, for a mark that allows neither: converted once to PNG (with
   * alpha) or JPEG (under the same DSSIM target) and kept as an outcome every mark may be served, so the promise
   * of the mark holds even then. An animation, or a conversion that fails, is not: `undefined`.
   */
  decodableVariant(key: string, record: OriginalRecord, bytes: Buffer): Promise<StoredVariant | undefined>;
}

/** Digests whose URLs are remembered, and URLs per digest (see `siblings`). */
const SIBLINGS_KEPT = 10_000;
const SIBLINGS_PER_DIGEST = 8;

/** The experiments side of the marked-image route: what runs in the background, and what the cluster shares. */
export function createExperiments(parts: ImageRouteParts, outcomes: Outcomes, originals: Originals): Experiments {
  const { store, queue, pool, settings, limits, logger, metrics, shared } = parts;
  const { settingsKey } = outcomes;

  /** The queue's key of an experiment on an original: one job whatever mark asked for it. */
  const jobKey = (key: string, name: string) => `${key}\u0000${name}`;

  /**
   * Store keys seen with each original digest (least recently seen out, at most `SIBLINGS_KEPT` digests): one
   * image under several URLs (`/a.jpg?v=1`, `?v=2`, a junk query string) is one image, and an experiment's outcome
   * belongs to it (SPEC §6), as the cluster shares it by digest through Redis. Without it each URL ran every
   * experiment again (a hostile review: 30 CPU seconds of AVIF per junk query string of one photo).
   * Each digest has an owner, the first of its URLs still stored with those bytes: its experiments are the image's,
   * the other URLs wait for them and take their outcomes, however many URLs come after (a flood of 500 query
   * strings of one photo pushed it out of the few URLs remembered and ran 466 AVIF searches, a second review).
   */
  const siblings = new Map<string, { owner: string; recent: Set<string> }>();
  function seen(key: string, digest: string): string {
    const known = siblings.get(digest);
    siblings.delete(digest);
    const ownerHolds = known !== undefined && (known.owner === key || store.getOriginal(known.owner)?.digest === digest);
    const entry = ownerHolds ? known : { owner: key, recent: known?.recent ?? new Set<string>() };
    entry.recent.delete(key);
    entry.recent.add(key);
    if (entry.recent.size > SIBLINGS_PER_DIGEST) entry.recent.delete(entry.recent.values().next().value!);
    siblings.set(digest, entry);
    if (siblings.size > SIBLINGS_KEPT) siblings.delete(siblings.keys().next().value!);
    return entry.owner;
  }

  /**
   * An outcome of `name` that another URL of the same original has (same digest, same settings), taken instead of
   * running the experiment again: its bytes kept under this URL too, the experiment done. Whether it was.
   */
  async function takeFromSibling(key: string, mark: string, record: OriginalRecord, name: ExperimentName): Promise<boolean> {
    const known = siblings.get(record.digest);
    for (const other of new Set([...(known ? [known.owner] : []), ...(known?.recent ?? [])])) {
      if (other === key) continue;
      const original = store.getOriginal(other);
      if (original?.digest !== record.digest || !outcomes.doneFor(other, original).includes(name)) continue;
      const kept = store.getVariantRecord(other, name);
      if (kept && outcomes.isOutcome(name, kept) && kept.originalDigest === record.digest) {
        const variant = await store.getVariant(other, name);
        if (!variant || !(await store.putVariant(key, name, variant.record, Buffer.from(variant.bytes)))) continue;
      } else if (kept) {
        continue;
      }
      await outcomes.addProgress(key, record, [name], mark);
      metrics.experiments.inc({ experiment: name, outcome: 'shared' });
      return true;
    }
    return false;
  }

  /** The experiments of the mark's plan that have not run on the original. */
  function remainingFor(key: string, capabilities: Capabilities, record: OriginalRecord): ExperimentName[] {
    if (!record.facts) return [];
    const done = outcomes.doneFor(key, record);
    return planForFacts(record.facts, capabilities, settings).filter((name) => !done.includes(name));
  }

  function allRun(key: string, capabilities: Capabilities, record: OriginalRecord): boolean {
    return remainingFor(key, capabilities, record).length === 0;
  }

  async function scheduleNext(key: string, mark: string, capabilities: Capabilities, record: OriginalRecord, requests: number): Promise<Schedule> {
    const owner = seen(key, record.digest);
    const remaining = remainingFor(key, capabilities, record);
    if (remaining.length === 0) return FINAL;
    const elsewhere = await shared?.leasedElsewhere(record.digest, remaining);
    const open = remaining.filter((name) => !elsewhere?.has(name));
    // An experiment runs under the image's owner (its first URL with these bytes) until the owner has it done; this
    // URL then takes the outcome (a copy, see `takeFromSibling`). However many URLs the image has, each experiment
    // runs once. An owner that cannot be decoded (passed through, saying why) runs nothing more: this URL finds that
    // out for itself.
    const ownerRecord = owner === key ? record : store.getOriginal(owner);
    const ownerWorks = ownerRecord !== undefined && ownerRecord.skip === undefined;
    const ownerDone = owner === key || !ownerWorks ? [] : outcomes.doneFor(owner, ownerRecord);
    const runsAt = (name: ExperimentName) => (ownerWorks && owner !== key && !ownerDone.includes(name) ? owner : key);
    const jobFor = (name: ExperimentName) => jobKey(runsAt(name), name);
    const offer = (name: ExperimentName, priority: number) => {
      const at = runsAt(name);
      queue.offer(jobKey(at, name), priority, () => runExperiment(at, mark, at === key ? record : ownerRecord!, name));
    };
    // Each request starts at most one experiment: the first its plan needs that nobody works on yet. Those
    // already waiting are raised to the image's count: a hot image's later experiments are as wanted as its first
    // (raised only while the first waited, they queued behind every image asked for twice).
    const next = open.find((name) => !queue.has(jobFor(name)));
    for (const name of open) {
      if (name !== next && queue.has(jobFor(name))) offer(name, requests);
    }
    if (next) {
      // Busy here: offered to the cluster as well, so that an idle instance can take it (work stealing).
      if (shared && queue.running >= queue.concurrency) shared.offer({ key: runsAt(next), mark, experiment: next, originalDigest: record.digest }, requests).catch(logFailure(logger, 'cluster: offering an experiment'));
      offer(next, requests);
      return NOT_FINAL;
    }
    // Nothing started: all that is left waits or runs here (in a cluster, maybe elsewhere: not said).
    return shared ? NOT_FINAL : { final: false, waitingFor: open.map(jobFor) };
  }

  function stillWaiting(waitingFor: readonly string[]): boolean {
    return waitingFor.every((job) => queue.has(job));
  }

  function raise(waitingFor: readonly string[], requests: number): void {
    for (const job of waitingFor) queue.raise(job, requests);
  }

  /**
   * Takes what other instances found for the original. Their outcomes that are not here yet, once their bytes
   * match their digests; the experiments they ran, except one whose outcome could not be taken (its bytes
   * expired, were evicted or were too large to publish): this instance then runs that one itself, rather than
   * call a mark final without it.
   */
  async function adoptFromCluster(key: string, record: OriginalRecord, view: ClusterView): Promise<void> {
    if (view.damaged) {
      metrics.clusterEvents.inc({ event: 'refused' }, view.damaged);
      logger.warn({ image: key, damaged: view.damaged }, 'cluster: outcome facts in Redis are damaged, deleted and not used');
    }
    // Done elsewhere counts here only where this instance has what came of it: the outcome taken (or already
    // here), or the word that nothing was kept. Facts that were not asked for, expired or could not be taken leave
    // the experiment to run here: a mark is not final without the outcomes its plan needs.
    const had = new Set<string>(view.nothingKept);
    for (const outcome of view.outcomes) {
      if (store.getVariantRecord(key, outcome.experiment)?.digest === outcome.digest || (await adoptOutcome(key, record, outcome))) had.add(outcome.experiment);
    }
    const local = outcomes.doneFor(key, record);
    const adopted = view.done.filter((name) => Object.hasOwn(EXPERIMENTS, name) && !local.includes(name) && view.asked.includes(name) && had.has(name));
    if (adopted.length > 0) await outcomes.addProgress(key, record, adopted);
  }

  /**
   * Keeps another instance's outcome in the local store if its published bytes are what its facts say, of this
   * very original and settings, and in the format its experiment makes: whoever can write to Redis must not decide
   * a format. Whether it could.
   */
  async function adoptOutcome(key: string, record: OriginalRecord, outcome: VariantRecord): Promise<boolean> {
    if (outcome.originalDigest !== record.digest || outcome.settings !== settingsKey) {
      metrics.clusterEvents.inc({ event: 'refused' });
      logger.warn({ image: key, experiment: outcome.experiment }, 'cluster: published outcome is of another original or other settings, not used');
      return false;
    }
    const bytes = await shared?.bytes(outcome.digest);
    if (!bytes) return false;
    if (sha256(bytes) !== outcome.digest || bytes.length !== outcome.size || (outcome.contentEncoding === 'gzip' && !inflatesToSvg(bytes)) || bytesType(outcome, bytes) !== outcome.contentType) {
      metrics.clusterEvents.inc({ event: 'refused' });
      logger.warn({ image: key, experiment: outcome.experiment, digest: outcome.digest }, 'cluster: published outcome does not match its facts, not used');
      return false;
    }
    if (!(await store.putVariant(key, outcome.experiment, outcome, bytes))) return false;
    metrics.clusterEvents.inc({ event: 'adopted' });
    return true;
  }

  /**
   * Runs one experiment; in a cluster, under a lease that lapses if this instance dies (another then runs it),
   * and shares what came out: the experiment as done, its outcome.
   */
  async function runExperiment(key: string, mark: string, record: OriginalRecord, name: ExperimentName): Promise<void> {
    if (!shared) return experiment(key, mark, record, name);
    const leaseMs = parts.leaseMs ?? 10_000;
    const taken = await shared.lease(record.digest, name, leaseMs);
    if (taken === false) {
      metrics.clusterEvents.inc({ event: 'left-to-another-instance' });
      return;
    }
    shared.withdraw({ key, mark, experiment: name, originalDigest: record.digest }).catch(logFailure(logger, 'cluster: withdrawing an offer'));
    let lost = false;
    const renewal = setInterval(() => {
      shared.renew(record.digest, name, leaseMs).then((held) => {
        if (held !== false || lost) return;
        lost = true;
        metrics.clusterEvents.inc({ event: 'lease-lost' });
        logger.warn({ image: key, experiment: name }, 'cluster: lease lost while the experiment ran (Redis slow or away longer than the lease); another instance may run it too');
      }, logFailure(logger, 'cluster: renewing a lease'));
    }, leaseMs / 3);
    logger.info({ image: key, mark, experiment: name, instance: shared.instance }, 'experiment started under a cluster lease');
    try {
      // Done elsewhere since it was queued: nothing to run.
      const view = await shared.look(record.digest, [name]);
      if (view) await adoptFromCluster(key, record, view);
      if (outcomes.doneFor(key, record).includes(name)) return;
      await experiment(key, mark, record, name);
    } finally {
      clearInterval(renewal);
      await shared.release(record.digest, name);
      // Once the queue has freed this slot (it does after this promise settles).
      setImmediate(() => {
        steal().catch(logFailure(logger, 'cluster: taking an offered experiment'));
      });
    }
  }

  /** Whether a steal is under way (one at a time: each takes a slot that must still be free when it lands). */
  let stealing = false;

  /**
   * Work stealing: with a free slot here, take the most requested experiment another instance offered because it
   * was busy, fetch its original (from the store, or the origin) and run it like our own, under its lease.
   */
  async function steal(): Promise<void> {
    if (!shared || stealing || !queue.accepting || queue.running + queue.queued >= queue.concurrency) return;
    stealing = true;
    try {
      const job = await shared.take();
      const source = job && sourceOfKey(job.key, parts.hostMode);
      if (!job || !source || !Object.hasOwn(EXPERIMENTS, job.experiment)) return;
      const found = await originals.original(undefined, source);
      if ('response' in found) discard(found.response);
      if (!('record' in found) || found.record.digest !== job.originalDigest || outcomes.doneFor(job.key, found.record).includes(job.experiment)) return;
      // Only work the mark's own plan has: an offer naming another experiment (a format the mark does not allow) is refused.
      const capabilities = capabilitiesOfMark(job.mark);
      if (!capabilities || !found.record.facts || !planForFacts(found.record.facts, capabilities, settings).includes(job.experiment as ExperimentName)) {
        metrics.clusterEvents.inc({ event: 'refused' });
        return;
      }
      metrics.clusterEvents.inc({ event: 'taken-from-another-instance' });
      queue.offer(jobKey(job.key, job.experiment), 0, () => runExperiment(job.key, job.mark, found.record, job.experiment as ExperimentName));
    } catch (err) {
      // The origin failed or hung for the original: its maker still has the job in its own queue.
      logger.warn({ error: (err as Error).message }, 'cluster: could not take an offered experiment');
    } finally {
      stealing = false;
    }
  }
  shared?.onOffered(() => {
    steal().catch(logFailure(logger, 'cluster: taking an offered experiment'));
  });

  /**
   * Runs one experiment on an original and keeps what came out for every mark: its outcome when it is acceptable
   * and smaller than the original (SPEC §6), and the experiment as done.
   */
  async function experiment(key: string, mark: string, record: OriginalRecord, name: ExperimentName): Promise<void> {
    if (await takeFromSibling(key, mark, record, name)) return;
    // Read now, not when queued: a queue of thousands of jobs holds no image bytes.
    const bytes = await store.getOriginalBytes(record);
    if (!bytes) return;
    const outcome = await pool.run(name, bytes, settings, limits, { known: outcomes.knownFor(key) });
    // Stopped, not failed: the experiment runs again after a restart. (One whose process crashed is recorded as
    // rejected below, and not tried again: an image that crashes a decoder crashes it every time.)
    if (!outcome.ok && outcome.reason === 'shutting down') return;
    if (!outcome.ok && outcome.unusable) {
      // Broken in a way only decoding shows (corrupt data, tables): passed through as it is from now on, saying why.
      logger.warn({ image: key, cause: 'encoder', reason: outcome.reason }, 'original cannot be decoded: passed through as it is');
      metrics.experiments.inc({ experiment: name, outcome: 'rejected' });
      const current = store.getOriginal(key);
      if (current?.digest === record.digest) await store.touchOriginal({ ...current, skip: outcome.reason });
      return;
    }
    const kept = outcome.ok && wireSize(outcome.variant) < record.size;
    if (outcome.ok && kept) {
      const made = storedVariant(record, outcome.variant, settingsKey);
      await store.putVariant(key, name, made.record, made.bytes);
      if (await shared?.publish(made.record, made.bytes)) metrics.clusterEvents.inc({ event: 'published' });
    }
    // Read again: what other instances did meanwhile may have been merged in.
    await outcomes.addProgress(key, record, [name], mark);
    await shared?.markDone(record.digest, name, kept);
    metrics.experimentDuration.observe({ experiment: name }, outcome.ms / 1000);
    metrics.experiments.inc({ experiment: name, outcome: !outcome.ok ? 'rejected' : kept ? 'kept' : 'not-smaller' });
    logger.info(
      { image: key, experiment: name, outcome: outcome.ok ? 'ok' : 'rejected', reason: outcome.ok ? undefined : outcome.reason, before: record.size, after: outcome.ok ? wireSize(outcome.variant) : undefined, dssim: outcome.ok ? outcome.variant.dssim : undefined, ms: outcome.ms },
      'experiment',
    );
  }

  /** Conversions to a format every client decodes, being made now (one per original). */
  const converting = new Map<string, Promise<StoredVariant | undefined>>();

  function decodableVariant(key: string, record: OriginalRecord, bytes: Buffer): Promise<StoredVariant | undefined> {
    if (!record.facts || record.facts.frames > 1) return Promise.resolve(undefined);
    const tag = `${key}\u0000${record.digest}`;
    let pending = converting.get(tag);
    if (!pending) {
      const format = record.facts.hasAlpha ? 'png' : 'jpeg';
      pending = pool
        .run('transform', bytes, { ...settings, transform: { format, dpr: 1, algorithm: 'auto' } }, limits, { urgent: true })
        .then(async (outcome) => {
          if (!outcome.ok) return undefined;
          const made = storedVariant(record, outcome.variant, settingsKey);
          await store.putVariant(key, CONVERTED_SLOT, made.record, made.bytes);
          return (await store.getVariant(key, CONVERTED_SLOT)) ?? made;
        })
        .finally(() => converting.delete(tag));
      converting.set(tag, pending);
    }
    return pending;
  }

  return { scheduleNext, stillWaiting, allRun, raise, adoptFromCluster, decodableVariant };
}
