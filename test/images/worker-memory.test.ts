import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { ExperimentPool } from '../../src/images/experiment-pool.js';
import { PreparedOriginals } from '../../src/images/experiment-worker.js';
import type { EngineSettings } from '../../src/images/experiment.js';
import { experimentMemory, prepareOriginal } from '../../src/images/original.js';
import type { ImageFacts, ProbeLimits } from '../../src/images/probe.js';
import { PROJECT_ROOT } from '../support/proxy.js';
import { gradientImage } from '../support/dssim-bounded-images.js';

const SETTINGS: EngineSettings = { d: 0.002, quality: 80, minQuality: 20, maxQuality: 95, aiqaAll: false, losslessPng: false, avifEffort: 4 };
const LIMITS = { maxPixels: 50e6, maxFrames: 100 };
const MiB = 2 ** 20;
const earth = readFileSync(new URL('fixtures/site/img/earth.jpg', PROJECT_ROOT));

const facts = (width: number, height: number, frames = 1, hasAlpha = false): ImageFacts => ({ type: frames > 1 ? 'gif' : 'jpeg', width, height, frames, hasAlpha });

/** A PNG of a generated 300×200 image (no alpha channel), different for each seed. */
async function png(seed: number): Promise<Buffer> {
  const { width, height, data } = gradientImage(300, 200, { seed });
  return sharp(data, { raw: { width, height, channels: 4 } }).removeAlpha().png().toBuffer();
}

/** An animated GIF of `frames` distinct frames of 100×100. */
async function gif(frames: number): Promise<Buffer> {
  const { data } = gradientImage(100, 100 * frames);
  return sharp(data, { raw: { width: 100, height: 100 * frames, channels: 4, pageHeight: 100 } }).gif().toBuffer();
}

describe('experiment memory (issue 16)', () => {
  it('counts the decoded pixels, a candidate’s and DSSIM’s, against the bound', () => {
    const fifty = experimentMemory(facts(8660, 5773), LIMITS);
    assert.ok(fifty.ok);
    assert.ok(fifty.bytes <= 2 ** 30 && fifty.bytes > 8 * 8660 * 5773, `${fifty.bytes}`);
    // An animation's frames: each has its reference, all its pixels are decoded (and a candidate's).
    const animation = experimentMemory(facts(500, 400, 100, true), LIMITS);
    assert.ok(animation.ok && animation.bytes > 8 * 500 * 400 * 100);
    // Its frames' references compared one at a time in strips, nothing kept: DSSIM adds little to the pixels.
    assert.ok(animation.bytes < 8 * 500 * 400 * 100 + 16 * MiB, `${animation.bytes}`);
    const refused = experimentMemory(facts(500, 400, 100, true), { ...LIMITS, maxMemoryBytes: 128 * MiB });
    assert.deepEqual(refused, {
      ok: false,
      reason: 'over max-experiment-memory (128 MB): 500x400 x 100 frames needs 153 MB of decoded pixels (original and candidate) and at least 4 MB for DSSIM',
    });
    // Pixels that fit (2.2 MB), with too little left for even the shortest strips.
    const tight = experimentMemory(facts(760, 380), { ...LIMITS, maxMemoryBytes: 6 * MiB });
    assert.deepEqual(tight, {
      ok: false,
      reason: 'over max-experiment-memory (6 MB): 760x380 needs 3 MB of decoded pixels (original and candidate) and at least 6 MB for DSSIM',
    });
    assert.deepEqual(experimentMemory(facts(760, 380), { ...LIMITS, maxMemoryBytes: 40 * MiB }), { ok: true, bytes: 36_260_528, layout: { kind: 'whole' } });
  });

  it('refuses an original that cannot fit before decoding it', async () => {
    let asked = 0;
    const prepared = await prepareOriginal(earth, { ...LIMITS, maxMemoryBytes: 2 * MiB }, { makeRoom: () => (asked += 1) });
    assert.deepEqual(prepared, {
      ok: false,
      reason: 'over max-experiment-memory (2 MB): 760x380 needs 3 MB of decoded pixels (original and candidate) and at least 6 MB for DSSIM',
    });
    assert.equal(asked, 0);
    const fits = await prepareOriginal(earth, LIMITS, { makeRoom: (bytes) => (asked = bytes) });
    assert.ok(fits.ok);
    const memory = experimentMemory(fits.original.facts, LIMITS);
    assert.ok(memory.ok && asked === memory.bytes);
  });

  describe('in a worker', () => {
    const pool = new ExperimentPool(1);
    after(() => pool.close());

    it('an experiment on an original that cannot fit fails with the reason', async () => {
      const outcome = await pool.run('jpeg', earth, SETTINGS, { ...LIMITS, maxMemoryBytes: 2 * MiB });
      assert.deepEqual(outcome, {
        ok: false,
        reason: 'over max-experiment-memory (2 MB): 760x380 needs 3 MB of decoded pixels (original and candidate) and at least 6 MB for DSSIM',
        unusable: true,
        encodes: 0,
        ms: 0,
      });
    });
  });

  it('lets go of older originals to make room for the next', async () => {
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(png));
    const need = experimentMemory(facts(300, 200), LIMITS);
    assert.ok(need.ok);
    // Room for one.
    const one: ProbeLimits = { ...LIMITS, maxMemoryBytes: Math.floor(need.bytes * 1.5) };
    const single = new PreparedOriginals(3);
    assert.ok((await single.get(a!, one)).ok);
    assert.ok((await single.get(b!, one)).ok);
    assert.ok(!single.has(a!, one) && single.has(b!, one));
    assert.equal(single.bytes, need.bytes);
    // Room for two, the least recently used let go first.
    const two: ProbeLimits = { ...LIMITS, maxMemoryBytes: Math.floor(need.bytes * 2.5) };
    const pair = new PreparedOriginals(3);
    for (const bytes of [a!, b!, c!]) assert.ok((await pair.get(bytes, two)).ok);
    assert.ok(!pair.has(a!, two) && pair.has(b!, two) && pair.has(c!, two));
    assert.ok((await pair.get(b!, two)).ok);
    assert.ok((await pair.get(d!, two)).ok);
    assert.ok(pair.has(b!, two) && !pair.has(c!, two) && pair.has(d!, two));
    assert.ok(pair.bytes <= two.maxMemoryBytes!);
  });

  it('limits an animation’s whole decoded area, frames × screen, as the probe does', async () => {
    const tenFrames = await gif(10);
    const exact = await prepareOriginal(tenFrames, { maxPixels: 100_000, maxFrames: 100 });
    assert.ok(exact.ok);
    assert.equal(exact.original.facts.frames, 10);
    assert.equal(exact.original.pixels.height, 1000);
    assert.equal(exact.original.frameReferences.length, 10);
    // libvips applies limitInputPixels to the animation decoded as one image of all its frames.
    await assert.rejects(sharp(tenFrames, { animated: true, limitInputPixels: 99_999 }).raw().toBuffer(), /exceeds pixel limit/);
    const over = await prepareOriginal(tenFrames, { maxPixels: 99_999, maxFrames: 100 });
    assert.ok(!over.ok && /animation larger than the maximum image area decoded/.test(over.reason));
  });
});
