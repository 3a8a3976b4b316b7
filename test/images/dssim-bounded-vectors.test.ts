import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DssimLayout, dssim } from '../../src/images/dssim.js';
import { DSSIM_VECTORS as pairs, vectorImage as image } from '../support/dssim-vectors.js';

/** Strips of odd heights, the original's planes kept in one and redone for the candidate in the other. */
const LAYOUTS: DssimLayout[] = [
  { kind: 'strips', rows: 7, keep: false },
  { kind: 'strips', rows: 37, keep: true },
];

describe('DSSIM in strips reproduces the reference vectors (SPEC §9, issue 16)', () => {
  it('has the vectors', () => assert.ok(pairs.length >= 20));
  for (const pair of pairs) {
    it(`${pair.original} vs ${pair.candidate}: ${pair.dssim}`, async () => {
      const [original, candidate] = await Promise.all([image(pair.original), image(pair.candidate)]);
      const whole = dssim(original, candidate, { layout: { kind: 'whole' }, specBackgrounds: true });
      const tolerance = Math.max(pair.dssim * 0.02, 2e-5);
      for (const layout of LAYOUTS) {
        const value = dssim(original, candidate, { layout, specBackgrounds: true });
        assert.ok(Math.abs(value - pair.dssim) <= tolerance, `${JSON.stringify(layout)}: got ${value}, expected ${pair.dssim} ± ${tolerance}`);
        assert.equal(value, whole, `${JSON.stringify(layout)}: the whole image's value to the bit`);
      }
    });
  }
});
