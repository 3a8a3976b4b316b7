import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** The hex sha256 of bytes, on the calling thread: how stored bytes are named and checked (SPEC §8). */
export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Below this a digest costs the event loop less than handing the bytes to a thread and back. */
const ON_LOOP_BYTES = 1024 * 1024;

/** The thread: hashes what it is handed and hands the memory back (transferred both ways, never copied). */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, buffer }) => {
  const digest = createHash('sha256').update(new Uint8Array(buffer)).digest('hex');
  parentPort.postMessage({ id, digest, buffer }, [buffer]);
});
`;

interface Pending {
  readonly resolve: (result: { digest: string; bytes: Buffer }) => void;
  readonly reject: (err: Error) => void;
}

let thread: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();

function digestThread(): Worker {
  if (thread) return thread;
  const started = new Worker(THREAD_SOURCE, { eval: true });
  started.on('message', ({ id, digest, buffer }: { id: number; digest: string; buffer: ArrayBuffer }) => {
    const waiting = pending.get(id);
    pending.delete(id);
    if (pending.size === 0) started.unref();
    waiting?.resolve({ digest, bytes: Buffer.from(buffer) });
  });
  const fail = (err: Error) => {
    thread = undefined;
    for (const waiting of pending.values()) waiting.reject(err);
    pending.clear();
  };
  started.on('error', fail);
  started.on('exit', () => fail(new Error('digest thread exited')));
  // Only what keeps the process alive while it hashes (after the listeners: adding a 'message' listener refs the
  // port again): a digest awaited is work in progress, an idle thread is not.
  started.unref();
  thread = started;
  return started;
}

/**
 * The sha256 (hex) of a body, and the body: a large one is hashed on a thread of its own, so that a 50 MB original
 * costs the event loop nothing (hashing it there took 60 ms). The memory moves to the thread and back, so the
 * caller goes on with the returned `bytes` and never uses `body` again. (Node 20's WebCrypto digest hashes on the
 * calling thread.)
 */
export async function digestOf(body: Buffer): Promise<{ digest: string; bytes: Buffer }> {
  if (body.length < ON_LOOP_BYTES) return { digest: sha256(body), bytes: body };
  // Only a whole ArrayBuffer can be transferred: a view into a larger one is copied out first.
  const buffer = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer ? body.buffer : body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
  const id = nextId++;
  // Should the thread die with the memory, the fetch fails (and the request goes to the origin as it is).
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    const worker = digestThread();
    worker.ref();
    worker.postMessage({ id, buffer }, [buffer as ArrayBuffer]);
  });
}
