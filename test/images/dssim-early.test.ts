import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { DssimReference } from '../../src/images/dssim.js';
import { decodeRgba } from '../../src/images/rgba.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const dir = new URL('fixtures/site/img/', PROJECT_ROOT);
function files(u: URL): URL[] {
  return readdirSync(u, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(new URL(`${e.name}/`, u)) : /\.(png|jpe?g|gif)$/i.test(e.name) ? [new URL(e.name, u)] : []));
}

describe('DSSIM with `above` agrees with the full value (property test over the demo images)', () => {
  it('the same value when not over `above`; a value over `above` when it stops early', async () => {
    const problems: string[] = [];
    for (const file of files(dir).slice(0, 14)) {
      const bytes = readFileSync(file);
      const original = await decodeRgba(await sharp(bytes).rotate().png().toBuffer());
      for (const q of [5, 30, 70, 95]) {
        const cand = await decodeRgba(await sharp(bytes).rotate().webp({ quality: q }).toBuffer());
        const full = new DssimReference(original).compare(cand);
        for (const above of [full * 0.5, full * 0.999, full, full * 1.001, full * 2, 1e9]) {
          const ref = new DssimReference(original);
          const value = ref.compare(cand, above);
          if (full <= above && value !== full) problems.push(`${file.pathname.split('/').pop()} q${q}: full ${full} ≤ above ${above} but got ${value}`);
          if (full > above && !(value > above)) problems.push(`${file.pathname.split('/').pop()} q${q}: full ${full} > above ${above} but got ${value} (not over)`);
          if (full <= above && value > above) problems.push(`${file.pathname.split('/').pop()} q${q}: over claimed`);
        }
      }
    }
    assert.deepEqual(problems.slice(0, 10), []);
  });
});
