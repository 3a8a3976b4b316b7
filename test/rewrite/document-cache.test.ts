import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DocumentCache } from '../../src/rewrite/document-cache.js';

const entry = (bytes: number) => ({ originHeaders: [], statusMessage: 'OK', body: Buffer.alloc(bytes), etag: '"x"', lastModified: undefined });

describe('the rewritten-document cache', () => {
  it('stays within its bound, the least recently used first out', () => {
    const cache = new DocumentCache(8000);
    cache.set('a', entry(900));
    cache.set('b', entry(900));
    cache.get('a');
    for (let i = 0; i < 8; i += 1) cache.set(`c${i}`, entry(900));
    assert.ok(cache.bytes <= 8000, `${cache.bytes} bytes`);
    assert.ok(cache.get('b') === undefined, 'b was least recently used');
    assert.ok(cache.get('c7') !== undefined);
  });

  it('does not keep a document larger than an eighth of it', () => {
    const cache = new DocumentCache(8000);
    cache.set('big', entry(1500));
    assert.equal(cache.count, 0);
  });

  it('replaces an entry under the same key without counting it twice', () => {
    const cache = new DocumentCache(8000);
    cache.set('a', entry(500));
    cache.set('a', entry(700));
    assert.equal(cache.count, 1);
    assert.equal(cache.bytes, 1 + 700 + 0);
  });
});
