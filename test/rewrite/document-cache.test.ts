import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DocumentCache } from '../../src/rewrite/document-cache.js';

const entry = (bytes: number) => ({ originHeaders: [], statusMessage: 'OK', body: Buffer.alloc(bytes), etag: '"x"', lastModified: undefined });

describe('the rewritten-document cache', () => {
  it('stays within its bound, the least recently used first out', () => {
    const cache = new DocumentCache(100_000);
    cache.set('a', entry(9000));
    cache.set('b', entry(9000));
    cache.get('a');
    for (let i = 0; i < 8; i += 1) cache.set(`c${i}`, entry(9000));
    assert.ok(cache.bytes <= 100_000, `${cache.bytes} bytes`);
    assert.ok(cache.get('b') === undefined, 'b was least recently used');
    assert.ok(cache.get('c7') !== undefined);
  });

  it('does not keep a document larger than an eighth of it', () => {
    const cache = new DocumentCache(8000);
    cache.set('big', entry(1500));
    assert.equal(cache.count, 0);
  });

  it('replaces an entry under the same key without counting it twice', () => {
    const cache = new DocumentCache(80_000);
    cache.set('a', entry(500));
    cache.set('a', entry(700));
    assert.equal(cache.count, 1);
    // The body, the key's characters at two bytes each, and what an entry itself takes.
    assert.equal(cache.bytes, 700 + 2 * 1 + 1024);
  });

  // Found by a hostile review (floods): 40,000 kept 1.8 KB pages held some 250 MB against a 64 MiB cache, each a view
  // of an 8 KB slab of Node's pool, and every entry's own objects uncounted.
  it('keeps bodies in memory of their own, and counts what each entry takes beyond its bytes', () => {
    const cache = new DocumentCache(64 * 2 ** 20);
    const pooled = Buffer.from('<p>a small page</p>');
    assert.ok(pooled.buffer.byteLength > pooled.length, 'the test starts from a view of the pool');
    cache.set('small', { ...entry(0), body: pooled });
    const kept = cache.get('small')!;
    assert.ok(kept.body.equals(pooled));
    assert.equal(kept.body.buffer.byteLength, pooled.length, 'a copy of its own');
    for (let i = 0; i < 100; i += 1) cache.set(`page${i}`, entry(10));
    assert.ok(cache.bytes >= 101 * 1024, `${cache.bytes} bytes counted for 101 entries`);
  });
});
