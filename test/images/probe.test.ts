import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import sharp from 'sharp';
import { probeImage, sniffImageType } from '../../src/images/probe.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const site = (path: string) => readFileSync(new URL(`fixtures/site/img/${path}`, PROJECT_ROOT));
const LIMITS = { maxPixels: 50e6, maxFrames: 100 };

/** The magic numbers as the first implementation read them, through latin1 strings: the reference of the test below. */
function referenceType(bytes: Uint8Array): string | undefined {
  const ascii = (start: number, end: number) => Buffer.from(bytes.subarray(start, end)).toString('latin1');
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(4, 8) === 'ftyp' && /avi[fs]/.test(ascii(8, 32))) return 'avif';
  return sniffImageType(bytes) === 'svg' ? 'svg' : undefined;
}

describe('sniffing, byte by byte (issue 18: on every image response)', () => {
  it('agrees with the string-based reference on arbitrary bytes, truncated magic numbers and near misses', () => {
    const magic = fc.constantFrom('\xff\xd8\xff', '\x89PNG\r\n\x1a\n', 'GIF87a', 'GIF89a', 'RIFF\0\0\0\0WEBP', '\0\0\0\x1cftypavif', '\0\0\0\x1cftypavis', '\0\0\0\x1cftypheic', 'RIFF\0\0\0\0WAVE', '\x89PNG\r\n');
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.tuple(magic, fc.integer({ min: 0, max: 14 }), fc.uint8Array({ maxLength: 30 })).map(([text, cut, rest]) => Buffer.concat([Buffer.from(text, 'latin1').subarray(0, cut === 14 ? undefined : cut), rest])),
      fc.tuple(magic, fc.nat(), fc.nat({ max: 255 })).map(([text, at, value]) => {
        const changed = Buffer.from(text, 'latin1');
        changed[at % changed.length] = value;
        return changed;
      }),
    );
    fc.assert(fc.property(bytes, (sample) => assert.equal(sniffImageType(sample) ?? undefined, referenceType(sample))), { numRuns: 20_000, seed: 18 });
  });
});

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
