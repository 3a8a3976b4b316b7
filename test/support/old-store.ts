import * as lmdb from 'lmdb';
import { sha256 } from '../../src/store/digest.js';
import type { SavingsRecord } from '../../src/store/records.js';

/** lmdb's default key encoding (ordered-binary), which the store's tables used before layout 3 (not in lmdb's types). */
const orderedBinaryKey = (lmdb as unknown as { keyValueToBuffer: (key: string) => Buffer }).keyValueToBuffer;

/**
 * A store as the version before layout 3 left it, byte for byte: every table keyed by lmdb's default encoding
 * (written here as the bytes it makes, through binary keys), in which `url\0slot` of 64 bytes or more reads back
 * as an array (hostile review 19: such a store stopped the start). Each URL has `image` as its original, a `webp`
 * variant and one under `apiSlot`, progress and requests; the savings history holds `history`.
 */
export async function writeOldLayoutStore(path: string, image: Buffer, urls: readonly string[], apiSlot: string, history: readonly SavingsRecord[] = []): Promise<void> {
  const root = lmdb.open({ path, compression: false, eventTurnBatching: false });
  const table = (name: string, encoding?: 'binary' | 'string') => root.openDB<unknown, Buffer>({ name, keyEncoding: 'binary', ...(encoding ? { encoding } : {}) });
  const [originals, variants, progress, requests, recency, bytes] = [table('originals'), table('variants'), table('progress'), table('requests'), table('recency', 'string'), table('bytes', 'binary')];
  const meta = root.openDB<number, string>({ name: 'meta' });
  const savings = root.openDB({ name: 'savings' });
  const variant = Buffer.from('an old variant');
  const variantRecord = { originalDigest: sha256(image), digest: sha256(variant), size: variant.length, experiment: 'webp', format: 'webp', contentType: 'image/webp', dssim: 0.001, createdAt: 5 };
  await root.transaction(() => {
    for (const url of urls) {
      originals.putSync(orderedBinaryKey(url), { url, digest: sha256(image), size: image.length, contentType: 'image/jpeg', etag: '"1"', validatedAt: Date.now() });
      for (const slot of ['webp', apiSlot]) {
        variants.putSync(orderedBinaryKey(`${url}\u0000${slot}`), variantRecord);
        bytes.putSync(orderedBinaryKey(`v\u0000${url}\u0000${slot}`), variant);
      }
      bytes.putSync(orderedBinaryKey(`o\u0000${url}`), image);
      progress.putSync(orderedBinaryKey(`${url}\u0000`), { originalDigest: sha256(image), settings: 's', done: ['webp'] });
      requests.putSync(orderedBinaryKey(url), { count: 2, lastRequested: 5, main: true, held: image.length + 2 * variant.length });
      recency.putSync(orderedBinaryKey(`m\u0000${String(5).padStart(15, '0')}\u0000${url}`), url);
    }
    meta.putSync('bytes', urls.length * (image.length + 2 * variant.length));
    meta.putSync('recency-version', 2);
    meta.putSync('records-version', 2);
    for (const point of history) savings.putSync(`${point.period}\u0000${String(point.at).padStart(15, '0')}`, point.byOutcome);
  });
  await root.close();
}
