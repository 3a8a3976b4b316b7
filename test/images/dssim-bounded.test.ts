import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_DSSIM_BYTES, type DssimLayout, DssimReference, DssimWorkspace, dssim, planDssim } from '../../src/images/dssim.js';
import type { RgbaImage } from '../../src/images/rgba.js';
import { gradientImage, jpegCandidate, perturbed } from '../support/dssim-bounded-images.js';

const WHOLE: DssimLayout = { kind: 'whole' };
const strips = (rows: number, keep: boolean): DssimLayout => ({ kind: 'strips', rows, keep });

/** DSSIM of the pair in each layout, the whole image's first. */
function inLayouts(original: RgbaImage, candidate: RgbaImage, layouts: DssimLayout[]): number[] {
  return [WHOLE, ...layouts].map((layout) => dssim(original, candidate, { layout }));
}

describe('DSSIM in strips (issue 16)', () => {
  it('gives the whole image’s value to the bit on a 12 MP photo-like pair', async () => {
    const original = gradientImage(4000, 3000);
    const candidate = await jpegCandidate(original);
    // 129 rows: odd, not a multiple of 32 (nor of 2^4, the scales' alignment); 37 rows with planes kept.
    const [whole, redone, kept] = inLayouts(original, candidate, [strips(129, false), strips(37, true)]);
    assert.ok(whole! > 1e-4 && whole! < 0.1, `a real difference: ${whole}`);
    assert.equal(redone, whole);
    assert.equal(kept, whole);
  });

  it('gives the same value for any strip height, at sizes down to a single scale', () => {
    const sizes: [number, number][] = [
      [97, 83], // five scales, odd at every one
      [300, 9], // two scales, the second 4 rows high
      [50, 7], // one scale
      [4, 4], // the smallest the fused blur takes
      [9, 300], // narrow and tall
    ];
    const heights = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 31, 32, 33, 64, 100, 1000];
    for (const [width, height] of sizes) {
      const original = gradientImage(width, height, { seed: width + height });
      const candidate = perturbed(original);
      const [whole, ...others] = inLayouts(original, candidate, heights.flatMap((rows) => [strips(rows, false), strips(rows, true)]));
      assert.ok(whole! > 0, `${width}×${height}: a real difference`);
      others.forEach((value, i) => assert.equal(value, whole, `${width}×${height}, layout ${i}`));
    }
  });

  it('compares transparent images over black and over white the same way', () => {
    const original = gradientImage(701, 499, { alpha: true });
    const candidate = perturbed(original, 5);
    const [whole, ...others] = inLayouts(original, candidate, [strips(19, false), strips(64, true), strips(128, false)]);
    assert.ok(whole! > 0);
    for (const value of others) assert.equal(value, whole);
  });

  it('reuses a strip reference for several candidates', async () => {
    const original = gradientImage(640, 480);
    const q30 = await jpegCandidate(original, 30);
    const q90 = await jpegCandidate(original, 90);
    for (const layout of [strips(50, false), strips(50, true)]) {
      const reference = new DssimReference(original, { layout });
      const first = reference.compare(q30);
      assert.equal(reference.compare(q90), dssim(original, q90, { layout: WHOLE }));
      assert.equal(reference.compare(q30), first);
      assert.equal(first, dssim(original, q30, { layout: WHOLE }));
    }
  });
});

describe('DSSIM memory plans', () => {
  const GiB = 2 ** 30;

  it('keeps the whole image when it fits, strips when not, nothing when even strips do not fit', () => {
    assert.deepEqual(planDssim(1000, 800, { transparent: false })?.layout, WHOLE);
    // 12 MP: whole planes (1.2 GB) do not fit a GiB, the original's planes kept in strips do.
    const twelve = planDssim(4000, 3000, { transparent: false, maxBytes: GiB - 8 * 12e6 });
    assert.deepEqual(twelve?.layout, strips(128, true));
    // 50 MP, within what a 1 GiB worker has left beside the original's and a candidate's pixels.
    const allowance = GiB - 8 * 8660 * 5774;
    const fifty = planDssim(8660, 5774, { transparent: false, maxBytes: allowance });
    assert.ok(fifty && fifty.layout.kind === 'strips' && !fifty.layout.keep);
    assert.ok(fifty.peakBytes <= allowance);
    assert.equal(fifty.keptBytes, 0);
    // Bytes per pixel: ~103 for the whole image, under 8 in strips (the SSIM maps are 5.3 of them).
    assert.ok(planDssim(8660, 5774, { transparent: false, maxBytes: Infinity })!.peakBytes / 50e6 > 100);
    assert.ok(fifty.peakBytes / 50e6 < 8.5, `${fifty.peakBytes / 50e6} bytes per pixel`);
    assert.equal(planDssim(8660, 5774, { transparent: false, maxBytes: 50e6 }), undefined);
    assert.equal(DEFAULT_DSSIM_BYTES, GiB);
  });

  it('holds what the plan says once it has compared', () => {
    const opaque = gradientImage(300, 200);
    const transparent = gradientImage(300, 200, { alpha: true });
    for (const image of [opaque, transparent]) {
      const layouts: DssimLayout[] = [WHOLE, strips(40, true), strips(40, false)];
      for (const layout of layouts) {
        const reference: DssimReference = new DssimReference(image, { layout });
        reference.compare(perturbed(image));
        const what = `${JSON.stringify(layout)}, transparent: ${reference.transparent}`;
        assert.equal(reference.bytes, reference.plan.keptBytes, what);
        // Strip scratch, in the workspace; the whole image's transient linear planes are garbage by now.
        const scratch = layout.kind === 'strips' ? reference.plan.peakBytes - reference.plan.keptBytes : 0;
        assert.equal(reference.workspace.bytes, scratch, what);
      }
    }
    assert.equal(new DssimReference(opaque, { layout: strips(40, false) }).plan.keptBytes, 0);
  });

  it('reuses its strip scratch from one comparison to the next, and can share it', () => {
    const frames = [gradientImage(400, 300, { seed: 1 }), gradientImage(400, 300, { seed: 2 })];
    const candidates = frames.map((frame) => perturbed(frame));
    const workspace = new DssimWorkspace();
    const layout = strips(64, false);
    const references = frames.map((frame) => new DssimReference(frame, { layout, workspace }));
    const values = references.map((reference, i) => reference.compare(candidates[i]!));
    const held = process.memoryUsage().arrayBuffers;
    for (let round = 0; round < 3; round += 1) references.forEach((reference, i) => assert.equal(reference.compare(candidates[i]!), values[i]));
    // Nothing new allocated (the collector may free earlier garbage meanwhile): one comparison's scratch for
    // both references, made once.
    assert.ok(process.memoryUsage().arrayBuffers <= held);
    assert.equal(workspace.bytes, references[0]!.plan.peakBytes - references[0]!.plan.keptBytes);
    values.forEach((value, i) => assert.equal(value, dssim(frames[i]!, candidates[i]!, { layout: WHOLE })));
  });

  it('keeps one background for an opaque original, even against a transparent candidate', () => {
    const original = gradientImage(200, 150);
    const transparent = gradientImage(200, 150, { alpha: true, seed: 3 });
    for (const layout of [WHOLE, strips(30, true)]) {
      const reference = new DssimReference(original, { layout });
      const first = reference.compare(transparent);
      assert.equal(reference.bytes, reference.plan.keptBytes);
      assert.equal(reference.compare(perturbed(original)), dssim(original, perturbed(original), { layout: WHOLE }));
      assert.equal(reference.compare(transparent), first);
      assert.equal(first, dssim(original, transparent, { layout: WHOLE }));
    }
  });

  it('refuses an allowance nothing fits, with the least it would take', () => {
    assert.throws(() => new DssimReference(gradientImage(400, 300), { maxBytes: 100_000 }), /DSSIM of 400×300 needs at least \d+ MB, over its allowance of 1 MB/);
    assert.throws(() => new DssimReference(gradientImage(3, 50), { layout: strips(8, false) }), RangeError);
  });
});
