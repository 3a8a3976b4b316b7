import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { aiqaSearch, qualityFromScale, scaleFactor, sizeSearch } from '../../src/images/aiqa.js';
import { DssimReference } from '../../src/images/dssim.js';
import { AVIF_EFFORT, AVIF_LEVELS, avifQualityGroup } from '../../src/images/experiments/avif.js';
import { decodeRgba } from '../../src/images/rgba.js';
import { PROJECT_ROOT } from '../support/proxy.js';

/** The answer by brute force: the lowest quality in [min, max] whose DSSIM ≤ d. */
function exhaustive(curve: ReadonlyMap<number, number>, d: number, min: number, max: number): number | undefined {
  for (let q = min; q <= max; q += 1) if (curve.get(q)! <= d) return q;
  return undefined;
}

async function searchOn(curve: ReadonlyMap<number, number>, d: number, min = 20, max = 95) {
  return aiqaSearch({
    target: d,
    minQuality: min,
    maxQuality: max,
    encode: (q) => Promise.resolve(Buffer.from([q])),
    measure: (bytes) => Promise.resolve(curve.get(bytes[0]!)!),
  });
}

describe('AIQA quality search (SPEC §6)', () => {
  it('maps quality and libjpeg scale factor both ways', () => {
    for (const q of [1, 20, 49, 50, 51, 80, 95, 100]) assert.ok(Math.abs(qualityFromScale(scaleFactor(q)) - q) < 1e-9, String(q));
  });

  it('finds the exact lowest passing quality on curves of the typical shape, in few encodes', async () => {
    let encodes = 0;
    let searches = 0;
    for (const amplitude of [0.00002, 0.00004, 0.0001]) {
      for (const slope of [0.9, 1.15, 1.4]) {
        const curve = new Map<number, number>();
        for (let q = 1; q <= 100; q += 1) curve.set(q, amplitude * scaleFactor(q) ** slope);
        for (const d of [0.001, 0.002, 0.004]) {
          const result = await searchOn(curve, d);
          const expected = exhaustive(curve, d, 20, 95);
          if (expected === undefined) {
            assert.equal(result.found, false);
            continue;
          }
          assert.ok(result.found, `amplitude ${amplitude} slope ${slope} d ${d}`);
          assert.equal(result.quality, expected, `amplitude ${amplitude} slope ${slope} d ${d}`);
          encodes += result.probes.length;
          searches += 1;
        }
      }
    }
    assert.ok(encodes / searches <= 4, `mean ${encodes / searches} encodes`);
  });

  it('stays within one step and never above d on a slightly noisy curve (±3%)', async () => {
    const curve = new Map<number, number>();
    for (let q = 1; q <= 100; q += 1) curve.set(q, 0.00003 * scaleFactor(q) ** 1.15 * (1 + 0.03 * Math.sin(q * 2.3)));
    for (const d of [0.001, 0.0015, 0.002, 0.003, 0.004]) {
      const result = await searchOn(curve, d);
      assert.ok(result.found);
      assert.ok(result.dssim <= d);
      assert.ok(Math.abs(result.quality - exhaustive(curve, d, 20, 95)!) <= 1, `d ${d}: ${result.quality}`);
    }
  });

  it('says so when even the highest quality does not reach d, and takes the lowest bound when it passes', async () => {
    const steep = new Map<number, number>(Array.from({ length: 100 }, (_, i) => [i + 1, 0.5]));
    const none = await searchOn(steep, 0.002);
    assert.equal(none.found, false);
    assert.ok(none.probes.length <= 3);
    const flat = new Map<number, number>(Array.from({ length: 100 }, (_, i) => [i + 1, 0.0001]));
    const lowest = await searchOn(flat, 0.002);
    assert.ok(lowest.found && lowest.quality === 20);
  });

  it('matches an exhaustive scan with mozjpeg on real photographs', async () => {
    const photos = ['fixtures/photos/chelsea.png', 'fixtures/photos/coffee.png'];
    let encodes = 0;
    let searches = 0;
    for (const path of photos) {
      const source = await sharp(readFileSync(new URL(path, PROJECT_ROOT))).resize({ width: 320 }).removeAlpha().png().toBuffer();
      const reference = new DssimReference(await decodeRgba(source));
      const encode = (q: number) => sharp(source).jpeg({ quality: q, mozjpeg: true }).toBuffer();
      const curve = new Map<number, number>();
      for (let q = 20; q <= 95; q += 1) curve.set(q, reference.compare(await decodeRgba(await encode(q))));
      for (const d of [0.001, 0.002, 0.004]) {
        const result = await searchOn(curve, d);
        const expected = exhaustive(curve, d, 20, 95);
        assert.ok(result.found && expected !== undefined);
        assert.ok(result.dssim <= d);
        assert.equal(result.quality, expected, `${path} d=${d}: search ${result.quality}, exhaustive ${expected}`);
        encodes += result.probes.length;
        searches += 1;
      }
    }
    assert.ok(encodes / searches <= 4.5, `mean ${(encodes / searches).toFixed(2)} encodes per search`);
  });
});

describe('AIQA on an encoder with fewer settings than qualities (AVIF: 64 quantiser levels)', () => {
  /** Levels of four qualities each: 20–23, 24–27, … (the encode at each is the lowest of its level's). */
  const group = (q: number) => ({ lo: q - ((q - 20 + 400) % 4), hi: q - ((q - 20 + 400) % 4) + 3 });

  it('finds the lowest quality of the lowest passing level, encoding one quality per level', async () => {
    const curve = new Map<number, number>();
    for (let q = 1; q <= 100; q += 1) curve.set(q, 0.00003 * scaleFactor(group(q).lo) ** 1.2);
    for (const d of [0.001, 0.0015, 0.002, 0.003]) {
      const encoded: number[] = [];
      const result = await aiqaSearch({
        target: d,
        minQuality: 20,
        maxQuality: 95,
        group,
        encode: (q) => {
          encoded.push(q);
          return Promise.resolve(Buffer.from([q]));
        },
        measure: (bytes) => Promise.resolve(curve.get(bytes[0]!)!),
      });
      const expected = exhaustive(curve, d, 20, 95);
      assert.ok(result.found && expected !== undefined, `d ${d}`);
      assert.equal(result.quality, expected, `d ${d}`);
      assert.equal(result.quality, group(result.quality).lo, 'the lowest quality of its level');
      const levels = encoded.map((q) => group(q).lo);
      assert.equal(new Set(levels).size, levels.length, `a level encoded twice: ${encoded.join(' ')}`);
      assert.ok(encoded.every((q) => q === group(q).lo), `encoded only at levels' lowest qualities: ${encoded.join(' ')}`);
    }
  });

  it('the table of AVIF levels is what the installed encoder does', async () => {
    // A noise image tells every quantiser apart: equal bytes at two qualities mean one setting.
    const side = 48;
    const data = Buffer.alloc(side * side * 3);
    let seed = 7;
    for (let i = 0; i < data.length; i += 1) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      data[i] = seed >>> 24;
    }
    const lowest: number[] = [];
    let previous: Buffer | undefined;
    for (let q = 1; q <= 100; q += 1) {
      const bytes = await sharp(data, { raw: { width: side, height: side, channels: 3 } }).avif({ quality: q, effort: AVIF_EFFORT, chromaSubsampling: '4:2:0' }).toBuffer();
      if (!previous || !bytes.equals(previous)) lowest.push(q);
      previous = bytes;
    }
    assert.deepEqual(lowest, [...AVIF_LEVELS]);
    for (let q = 1; q <= 100; q += 1) {
      const { lo, hi } = avifQualityGroup(q);
      assert.ok(lo <= q && q <= hi && AVIF_LEVELS.includes(lo as (typeof AVIF_LEVELS)[number]), String(q));
    }
  });
});

describe('the size method (highest quality within a byte budget)', () => {
  const bytesAt = (q: number) => Math.round(200_000 * scaleFactor(q) ** -0.85);
  const search = (targetBytes: number, allowedError = 0) =>
    sizeSearch({ targetBytes, minQuality: 20, maxQuality: 95, allowedError, encode: (q) => Promise.resolve(Buffer.alloc(bytesAt(q))) });
  const highestFitting = (target: number) => {
    for (let q = 95; q >= 20; q -= 1) if (bytesAt(q) <= target) return q;
    return undefined;
  };

  it('finds the highest quality that fits, in few encodes', async () => {
    let encodes = 0;
    const targets = [10_000, 15_000, 20_000, 30_000, 50_000];
    for (const target of targets) {
      const result = await search(target);
      assert.ok(result.fits);
      assert.equal(result.quality, highestFitting(target), `target ${target}`);
      assert.ok(result.bytes.length <= target);
      encodes += result.probes.length;
    }
    assert.ok(encodes / targets.length <= 5, `mean ${encodes / targets.length} encodes`);
  });

  it('stops early within the allowed error', async () => {
    const result = await search(20_000, 0.1);
    assert.ok(result.fits && result.bytes.length <= 20_000 && result.bytes.length >= 18_000);
  });

  it('reports the smallest result when even the lowest quality does not fit', async () => {
    const result = await search(100);
    assert.ok(!result.fits);
    assert.equal(result.quality, 20);
  });
});
