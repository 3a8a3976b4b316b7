import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dssim, DssimReference } from '../../src/images/dssim.js';
import { DSSIM_VECTORS as pairs, vectorImage as image } from '../support/dssim-vectors.js';

describe('DSSIM reproduces the reference vectors (SPEC §9)', () => {
  it('has the vectors', () => assert.ok(pairs.length >= 20));
  for (const pair of pairs) {
    it(`${pair.original} vs ${pair.candidate}: ${pair.dssim}`, async () => {
      const value = dssim(await image(pair.original), await image(pair.candidate));
      const tolerance = Math.max(pair.dssim * 0.02, 2e-5);
      assert.ok(Math.abs(value - pair.dssim) <= tolerance, `got ${value}, expected ${pair.dssim} ± ${tolerance}`);
    });
  }

  it('reuses the prepared original for several candidates with the same results', async () => {
    const reference = new DssimReference(await image('coffee.png'));
    const q30 = await image('coffee-q30.jpg');
    const q90 = await image('coffee-q90.jpg');
    const first = reference.compare(q30);
    assert.equal(reference.compare(q90), dssim(await image('coffee.png'), q90));
    assert.equal(reference.compare(q30), first);
  });

  it('refuses images of different sizes', () => {
    assert.throws(() => dssim(({ width: 2, height: 2, data: new Uint8Array(16) }), { width: 3, height: 2, data: new Uint8Array(24) }), RangeError);
  });
});
