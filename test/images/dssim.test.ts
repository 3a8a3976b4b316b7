import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { dssim, DssimReference } from '../../src/images/dssim.js';
import { decodeRgba } from '../../src/images/rgba.js';
import { PROJECT_ROOT } from '../support/proxy.js';
import { DSSIM_VECTORS as pairs, vectorImage as image } from '../support/dssim-vectors.js';

describe('DSSIM reproduces the reference vectors (SPEC §9)', () => {
  it('has the vectors', () => assert.ok(pairs.length >= 20));
  for (const pair of pairs) {
    it(`${pair.original} vs ${pair.candidate}: ${pair.dssim}`, async () => {
      const value = dssim(await image(pair.original), await image(pair.candidate), { specBackgrounds: true });
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

  it('with a bound: the exact value when it is not over the bound, otherwise a value over it, near the true one', async () => {
    // Opaque photos and transparent icons, far and near candidates, bounds on both sides of each true value.
    const cases: [string, number[]][] = [];
    for (const [file, qualities] of [['fixtures/site/img/photos/astronaut.jpg', [10, 40, 75, 95]], ['fixtures/site/img/buttons/search.png', [5, 30, 80]], ['fixtures/site/img/logo.png', [10, 60]]] as const) {
      cases.push([file, [...qualities]]);
    }
    let cutShort = 0;
    for (const [file, qualities] of cases) {
      const bytes = await readFile(new URL(file, PROJECT_ROOT));
      const reference = new DssimReference(await decodeRgba(bytes));
      for (const quality of qualities) {
        const candidate = await decodeRgba(await sharp(bytes).webp({ quality }).toBuffer());
        const exact = new DssimReference(reference.image).compare(candidate);
        for (const factor of [0.2, 0.5, 0.9, 0.99, 1, 1.01, 2]) {
          const above = exact * factor;
          const bounded = reference.compare(candidate, above);
          if (exact <= above) assert.equal(bounded, exact, `${file} q${quality} bound ${factor}`);
          else {
            // Over the bound, as the true value is; stopped early, an estimate of it (a search aims by it).
            assert.ok(bounded > above, `${file} q${quality} bound ${factor}: ${bounded} vs exact ${exact}`);
            assert.ok(bounded < exact * 1.25, `${file} q${quality} bound ${factor}: an estimate ${bounded} far over ${exact}`);
            if (bounded !== exact) cutShort += 1;
          }
        }
      }
    }
    assert.ok(cutShort > 0, 'some comparisons stopped early');
  });

  it('refuses images of different sizes', () => {
    assert.throws(() => dssim(({ width: 2, height: 2, data: new Uint8Array(16) }), { width: 3, height: 2, data: new Uint8Array(24) }), RangeError);
  });

  it('judges transparent pairs over mid-grey too: an icon fine over black and white is not over grey', async () => {
    const icon = await readFile(new URL('fixtures/site/img/buttons/search.png', PROJECT_ROOT));
    const original = await decodeRgba(icon);
    const candidate = await decodeRgba(await sharp(icon).webp({ quality: 80, effort: 4 }).toBuffer());
    const spec = dssim(original, candidate, { specBackgrounds: true });
    const withGrey = dssim(original, candidate);
    assert.ok(spec < 0.001 && withGrey > 0.0012, `over black and white ${spec}, with grey ${withGrey}`);
    // Strips compose the three backgrounds the same way as the whole image.
    assert.equal(dssim(original, candidate, { layout: { kind: 'strips', rows: 8, keep: true } }), withGrey);
  });

  it('compares opaque pairs once, whatever the backgrounds', async () => {
    const [original, candidate] = await Promise.all([image('coffee.png'), image('coffee-q30.jpg')]);
    assert.equal(dssim(original, candidate), dssim(original, candidate, { specBackgrounds: true }));
  });
});
