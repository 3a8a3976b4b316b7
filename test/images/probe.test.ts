import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { probeImage, sniffImageType } from '../../src/images/probe.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const site = (path: string) => readFileSync(new URL(`fixtures/site/img/${path}`, PROJECT_ROOT));
const LIMITS = { maxPixels: 50e6, maxFrames: 100 };

describe('probing an original', () => {
  it('tells types by their first bytes', async () => {
    assert.equal(sniffImageType(site('earth.jpg')), 'jpeg');
    assert.equal(sniffImageType(site('logo.png')), 'png');
    assert.equal(sniffImageType(site('spacer.gif')), 'gif');
    assert.equal(sniffImageType(site('rocket.webp')), 'webp');
    const avif = await sharp(site('earth.jpg')).resize(64).avif().toBuffer();
    assert.equal(sniffImageType(avif), 'avif');
    assert.equal(sniffImageType(Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>')), 'svg');
    assert.equal(sniffImageType(Buffer.from('<!DOCTYPE html><html><body>not found</body></html>')), undefined);
  });

  it('reads the facts of real images', async () => {
    assert.deepEqual(await probeImage(site('earth.jpg'), LIMITS), { ok: true, facts: { type: 'jpeg', width: 760, height: 380, frames: 1, hasAlpha: false } });
    const logo = await probeImage(site('logo.png'), LIMITS);
    assert.ok(logo.ok && logo.facts.hasAlpha);
    const animated = await probeImage(site('icons/new.gif'), LIMITS);
    assert.ok(animated.ok && animated.facts.frames === 8 && animated.facts.height === 18);
  });

  it('gives reasons, never exceptions, for what cannot be improved', async () => {
    const bomb = readFileSync(new URL('fixtures/bad/bomb-30000x30000.png', PROJECT_ROOT));
    const cases: [string, Uint8Array, RegExp, { maxPixels: number; maxFrames: number }?][] = [
      ['empty', Buffer.alloc(0), /^empty body$/],
      ['HTML with an image name', Buffer.from('<html><body>404</body></html>'), /^not an image$/],
      ['SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'), /^SVG$/],
      ['a decompression bomb', bomb, /larger than the maximum image area: 30000x30000/],
      ['too many frames', site('icons/new.gif'), /frame limit: 8 > 4/, { maxPixels: 50e6, maxFrames: 4 }],
      ['a header cut short', site('earth.jpg').subarray(0, 20), /truncated JPEG: it ends inside its headers/],
      ['a JPEG cut short in its image data', site('earth.jpg').subarray(0, 4000), /truncated JPEG: no end-of-image marker/],
      ['a PNG cut short', site('drawings/chart-attendance.png').subarray(0, 3000), /truncated PNG/],
    ];
    for (const [what, bytes, reason, limits] of cases) {
      const result = await probeImage(bytes, limits ?? LIMITS);
      assert.ok(!result.ok, what);
      assert.match(result.reason, reason, what);
    }
    assert.ok(bomb.length < 512 * 1024, `the bomb is small on disk: ${bomb.length} bytes`);
  });
});
