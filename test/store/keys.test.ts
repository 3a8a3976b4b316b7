import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { open } from 'lmdb';
import { bytesOwner, originalBytesKey, savingsKey, savingsKeyParts, slotKey, slotOf, slotRange, UTF8_KEYS, variantBytesKey } from '../../src/store/keys.js';

const dir = mkdtempSync(join(tmpdir(), 'slimproxy-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Any text, control characters and characters beyond the BMP included, of any length up to `maxLength` (most past ordered-binary's 64). */
const text = (maxLength: number) => fc.oneof(fc.string({ unit: 'binary-ascii', maxLength, size: 'max' }), fc.string({ unit: 'binary', maxLength, size: 'max' }));

describe('the image tables keys (UTF-8, hostile review 19)', () => {
  it('reads every key back as the string it was, in the order of its UTF-8 bytes (a real LMDB table)', async () => {
    const root = open({ path: join(dir, 'property'), compression: false, eventTurnBatching: false });
    const table = root.openDB<number, string>({ name: 'keys', ...UTF8_KEYS });
    // A part of a URL and a slot, as the store joins them; up to 1,200 bytes with the separator (LMDB takes 1,978).
    const parts = fc.tuple(text(200), text(100)).filter(([url, slot]) => url.length > 0 && !url.includes('\u0000') && !slot.includes('\u0000'));
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(parts, { minLength: 1, maxLength: 20, selector: ([url, slot]) => slotKey(url, slot) }), async (pairs) => {
        await root.transaction(() => {
          table.clearSync();
          for (const [i, [url, slot]] of pairs.entries()) table.putSync(slotKey(url, slot), i);
        });
        const written = pairs.map(([url, slot]) => slotKey(url, slot)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const read = [...table.getKeys()];
        assert.deepEqual(read, written);
        for (const [i, [url, slot]] of pairs.entries()) {
          assert.equal(table.get(slotKey(url, slot)), i);
          // An original's slots are a range of its own: none of another URL, however it begins.
          const found = [...table.getKeys(slotRange(url))].map((key) => slotOf(key, url));
          assert.deepEqual(found, pairs.filter(([other]) => other === url).map(([, s]) => s).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
        }
      }),
      { numRuns: 150 },
    );
    await root.close();
  });

  it('names the owner of stored bytes, and nothing for a key of no shape the store writes', () => {
    const url = `/img/photo.jpg?v=${'a'.repeat(100)}`;
    const slot = 'api:{"format":"webp","dpr":1}';
    assert.deepEqual(bytesOwner(originalBytesKey(url)), { url });
    assert.deepEqual(bytesOwner(variantBytesKey(url, slot)), { url, slot });
    for (const key of ['', 'o', 'v\u0000/no-slot.jpg', `x\u0000${url}`, ['o', url], 42, undefined]) assert.equal(bytesOwner(key), undefined, JSON.stringify(key));
  });

  it('reads a savings key back, and nothing for one of another shape', () => {
    assert.deepEqual(savingsKeyParts(savingsKey('minute', 1_767_571_200_000)), { period: 'minute', at: 1_767_571_200_000 });
    assert.deepEqual(savingsKeyParts(savingsKey('hour', 0)), { period: 'hour', at: 0 });
    for (const key of ['minute\u0000not-a-number', 'day\u0000001767571200000', 'minute\u00001767571200000', ['minute', 5], 5]) assert.equal(savingsKeyParts(key), undefined, JSON.stringify(key));
  });
});
