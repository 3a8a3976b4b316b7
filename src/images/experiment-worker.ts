/**
 * A worker thread that runs experiments, so that DSSIM (JavaScript, seconds of CPU per image) never blocks the
 * proxy's event loop. It keeps the last originals it prepared: the next experiment on the same image reuses the
 * decoded pixels and the DSSIM reference.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import type { ExperimentOutcome } from './experiment.js';
import { type PreparedOriginal, prepareOriginal } from './original.js';
import { EXPERIMENTS } from './plan.js';
import type { ExperimentTask, WorkerReply } from './worker-protocol.js';

/**
 * Originals kept prepared (decoded pixels, DSSIM reference): two cover the common case of the next experiment
 * being on the same image, and each costs tens of MB for a large photograph (4 gave 826 MB peak RSS browsing
 * the demo site to final, against 598 MB with 2 and the settings below).
 */
const KEEP = 2;
// Each experiment works on an image the operation cache has not seen and will not see again: its up to 50 MB
// of kept results are memory spent for nothing (libvips' cache is per process: this covers the proxy too).
sharp.cache(false);
const prepared = new Map<string, Promise<PreparedOriginal>>();

function originalFor(task: ExperimentTask): Promise<PreparedOriginal> {
  const key = createHash('sha256').update(task.bytes).digest('hex') + JSON.stringify(task.limits);
  let entry = prepared.get(key);
  if (!entry) {
    entry = prepareOriginal(Buffer.from(task.bytes), task.limits);
    prepared.set(key, entry);
    if (prepared.size > KEEP) prepared.delete(prepared.keys().next().value!);
  }
  return entry;
}

async function run(task: ExperimentTask): Promise<ExperimentOutcome> {
  const original = await originalFor(task);
  if (!original.ok) return { ok: false, reason: original.reason, encodes: 0, ms: 0 };
  try {
    return await EXPERIMENTS[task.experiment].run(original.original, task.settings);
  } catch (err) {
    return { ok: false, reason: `failed: ${(err as Error).message}`, encodes: 0, ms: 0 };
  }
}

parentPort?.on('message', (task: ExperimentTask) => {
  void run(task).then((outcome) => {
    const reply: WorkerReply = { id: task.id, outcome };
    parentPort?.postMessage(reply);
  });
});
