import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONVERTED_SLOT, Outcomes } from '../../../src/http/image/outcomes.js';
import { ImageStore, sha256 } from '../../../src/store/image-store.js';
import type { OriginalRecord, VariantRecord } from '../../../src/store/records.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const original = Buffer.alloc(10_000, 1);
const record: OriginalRecord = { url: '/a.png', digest: sha256(original), size: original.length, contentType: 'image/png', validatedAt: Date.now(), facts: { type: 'png', width: 10, height: 10, frames: 1, hasAlpha: false } };
const variant = (experiment: string, contentType: string, size: number, settings = 's1'): { record: VariantRecord; bytes: Buffer } => {
  const bytes = Buffer.alloc(size, experiment.length);
  return { record: { originalDigest: record.digest, digest: sha256(bytes), size, contentType, format: contentType.slice(6), experiment, settings, dssim: 0.001, createdAt: Date.now() }, bytes };
};

describe('image route, step 4: the outcomes kept, and the best for a mark', () => {
  let store: ImageStore;
  let outcomes: Outcomes;
  before(async () => {
    store = new ImageStore(join(mkdtempSync(join(tmpdir(), 'slimproxy-outcomes-')), 'store'), 64 * 2 ** 20);
    outcomes = new Outcomes(store, 's1');
    await store.putOriginal(record, original);
    const put = (slot: string, made: { record: VariantRecord; bytes: Buffer }) => store.putVariant('/a.png', slot, made.record, made.bytes);
    await put('avif', variant('avif', 'image/avif', 1000));
    await put('webp', variant('webp', 'image/webp', 2000));
    await put('png-palette', variant('png-palette', 'image/png', 3000));
    // Of other settings (a config change): not an outcome of these.
    await put('jpeg-from-png', variant('jpeg-from-png', 'image/jpeg', 500, 's0'));
    await put(CONVERTED_SLOT, variant('transform', 'image/png', 12_000));
  });
  after(() => store.close());

  it('the smallest outcome whose format the mark allows', () => {
    assert.equal(outcomes.bestFor('/a.png', record, { webp: true, avif: true, zorro: false }, true)?.slot, 'avif');
    assert.equal(outcomes.bestFor('/a.png', record, { webp: true, avif: false, zorro: false }, true)?.slot, 'webp');
    assert.equal(outcomes.bestFor('/a.png', record, { webp: false, avif: false, zorro: false }, true)?.slot, 'png-palette', 'not the JPEG of other settings');
  });

  it('not bigger than the original where the mark allows the original; a conversion where it does not', () => {
    const none = { webp: false, avif: false, zorro: false };
    assert.equal(outcomes.bestFor('/a.png', { ...record, size: 2500 }, none, true), undefined);
    assert.equal(outcomes.bestFor('/a.png', { ...record, size: 2500 }, none, false)?.slot, 'png-palette');
  });

  it('known sizes and progress are those of these settings', async () => {
    assert.deepEqual(outcomes.knownFor('/a.png'), { avif: 1000, webp: 2000, 'png-palette': 3000 });
    assert.deepEqual(outcomes.doneFor('/a.png', record), []);
    await outcomes.addProgress('/a.png', record, ['avif'], 'ic,webp,avif');
    await outcomes.addProgress('/a.png', record, ['webp']);
    assert.deepEqual(outcomes.doneFor('/a.png', record), ['avif', 'webp']);
    assert.deepEqual(new Outcomes(store, 's2').doneFor('/a.png', record), []);
    assert.deepEqual(outcomes.doneFor('/a.png', { ...record, digest: 'another version' }), []);
  });
});
