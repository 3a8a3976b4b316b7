import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aiqaSearch } from '../../src/images/aiqa.js';
import { avifQualityGroup } from '../../src/images/experiments/avif.js';
import { parseConfig } from '../../src/config/index.js';

/** Deterministic PRNG. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function run(curve: (q: number) => number, d: number, min: number, max: number, grouped: boolean, early: boolean) {
  let encodes = 0;
  const result = await Promise.race([
    aiqaSearch({
      target: d,
      minQuality: min,
      maxQuality: max,
      ...(grouped ? { group: avifQualityGroup } : {}),
      encode: (q) => {
        encodes += 1;
        if (encodes > 200) throw new Error('runaway search');
        return Promise.resolve(Buffer.from([q]));
      },
      // The encoder of a group encodes at the group's lo; early stop returns something over `above`.
      measure: (bytes, above) => {
        const v = curve(bytes[0]!);
        return Promise.resolve(early && v > above ? above * 1.0000001 + (v - above) * 0.1 : v);
      },
    }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000)),
  ]);
  return result;
}

describe('AIQA on odd curves (property test; hostile review of issue 17)', () => {
  it('never returns a quality over d, finds one when min passes, terminates', async () => {
    const random = rng(42);
    const failures: string[] = [];
    for (let i = 0; i < 3000; i += 1) {
      const kind = i % 6;
      const table = new Map<number, number>();
      for (let q = 1; q <= 100; q += 1) {
        let v: number;
        if (kind === 0) v = random() * 0.01; // pure noise
        else if (kind === 1) v = 0.002; // flat, exactly d
        else if (kind === 2) v = 0; // everything identical
        else if (kind === 3) v = 1; // nothing passes
        else if (kind === 4) v = 0.00003 * (q < 50 ? 5000 / q : 200 - 2 * q) ** 1.15 * (1 + (random() - 0.5)); // ±50% noise
        else v = q % 7 === 0 ? 0.0001 : 0.01; // isolated passing points
        table.set(q, v);
      }
      const min = 1 + Math.floor(random() * 100);
      const max = min + Math.floor(random() * (101 - min));
      const grouped = random() < 0.5;
      const early = random() < 0.5;
      const d = 0.002;
      let result;
      try {
        result = await run((q) => table.get(q)!, d, min, max, grouped, early);
      } catch (err) {
        failures.push(`kind ${kind} [${min},${max}] grouped=${grouped}: ${(err as Error).message}`);
        continue;
      }
      if (result.found) {
        if (!(result.dssim <= d)) failures.push(`kind ${kind}: returned ${result.quality} at ${result.dssim} > d`);
        if (result.quality < min || result.quality > max) failures.push(`kind ${kind}: quality ${result.quality} outside [${min},${max}]`);
        if (!Buffer.isBuffer(result.bytes)) failures.push(`kind ${kind}: no bytes`);
      }
    }
    assert.deepEqual(failures.slice(0, 10), []);
  });

  it('format-max under min-quality is refused by the config, naming the attribute (else min > max reaches the search)', () => {
    assert.throws(
      () => parseConfig(`<?xml version="1.0"?><config><origin url="http://127.0.0.1:9"/><image-compression format-max="avif=10"/></config>`, 'test.xml'),
      /format-max="avif=10".*at least avif's minimum quality \(20/,
    );
    assert.throws(
      () => parseConfig(`<?xml version="1.0"?><config><origin url="http://127.0.0.1:9"/><image-compression format-min="webp=30" format-max="webp=25"/></config>`, 'test.xml'),
      /format-(min|max)="webp=/,
    );
  });

  it('min > max in the search itself: not a found result without bytes', async () => {
    const result = await run(() => 0.001, 0.002, 20, 10, true, false);
    assert.ok(!result.found || Buffer.isBuffer(result.bytes), `found=${result.found} quality=${(result as { quality?: number }).quality} bytes=${String((result as { bytes?: unknown }).bytes)}`);
  });
});
