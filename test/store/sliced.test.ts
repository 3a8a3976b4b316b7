import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { copyInSlices, digestInSlices } from '../../src/store/sliced.js';

describe('work on large stored bodies, a slice per event-loop turn', () => {
  const body = randomBytes(9 * 2 ** 20 + 123);

  it('copies and hashes whole, concurrently, with the same result as at once', async () => {
    const [a, b, digest] = await Promise.all([copyInSlices(body), copyInSlices(body.subarray(5)), digestInSlices(body)]);
    assert.ok(a.equals(body));
    assert.ok(b.equals(body.subarray(5)));
    assert.equal(digest, createHash('sha256').update(body).digest('hex'));
  });

  it('a copy whose source is gone stops before its next slice (no read of memory given back)', async () => {
    let gone = false;
    let turns = 0;
    const copying = copyInSlices(body, () => {
      turns += 1;
      return gone;
    });
    await new Promise((resolve) => setImmediate(resolve));
    gone = true;
    await assert.rejects(copying, /copy dropped/);
    assert.ok(turns < Math.ceil(body.length / 2 ** 21), `stopped early: ${turns} turns`);
  });
});
