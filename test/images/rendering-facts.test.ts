/**
 * Found by a hostile review (2026-12-08, images drawn by Chromium 156 from the origin's bytes and from the proxy's):
 * what a browser takes from an image file besides the pixels libvips decodes (APNG frames, PNG gamma, primaries and
 * cICP, EXIF resolution of a JPEG, CMYK, EXIF orientation in a WebP) was lost in the variants, which were served as
 * final with DSSIM 0.000–0.002. Such originals are now passed through, saying why.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { probeImage } from '../../src/images/probe.js';
import { exifDensitySize } from '../../src/images/rendering-facts.js';
import { pngChunk } from '../support/bad-images.js';
import { apng, exifBlock, jpegWithExif, png, u32 } from '../support/rendering-images.js';

const LIMITS = { maxPixels: 50e6, maxFrames: 1000 };

async function reason(bytes: Buffer): Promise<string | undefined> {
  const probed = await probeImage(bytes, LIMITS);
  return probed.ok ? undefined : probed.reason;
}

describe('originals whose look a variant would not keep are passed through, saying why', () => {
  it('an animated PNG (APNG), whose frames libvips does not read', async () => {
    assert.match((await reason(apng())) ?? '', /^animated PNG \(APNG\)/);
    assert.equal(await reason(png()), undefined, 'a plain PNG');
  });

  it("PNG gamma, primaries and cICP that browsers apply and libvips does not, unless sRGB or a profile overrides them", async () => {
    const gama = (value: number) => pngChunk('gAMA', u32(value));
    const chrm = (...xy: number[]) => pngChunk('cHRM', u32(...xy));
    const srgbPrimaries = [31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000];
    assert.match((await reason(png([gama(100000)]))) ?? '', /^PNG gamma 1\.00 \(gAMA chunk\)/);
    assert.match((await reason(png([gama(55556)]))) ?? '', /^PNG gamma 1\.80/);
    assert.match((await reason(png([chrm(31270, 32900, 68000, 32000, 26500, 69000, 15000, 6000)]))) ?? '', /cHRM/);
    assert.match((await reason(png([pngChunk('cICP', Buffer.from([9, 16, 0, 1]))]))) ?? '', /cICP chunk \(primaries 9, transfer 16\)/);
    // What old tools wrote for sRGB, and sRGB said outright.
    assert.equal(await reason(png([gama(45455), chrm(...srgbPrimaries)])), undefined, 'gAMA 1/2.2 with sRGB primaries');
    assert.equal(await reason(png([pngChunk('cICP', Buffer.from([1, 13, 0, 1]))])), undefined, 'cICP saying sRGB');
    assert.equal(await reason(png([pngChunk('sRGB', Buffer.from([0])), gama(100000)])), undefined, 'an sRGB chunk overrides gAMA');
  });

  // Found by the review of that change: chunks libpng ignores made the proxy take a gAMA chunk as overridden.
  it('PNG colour chunks read as libpng reads them: the first gAMA, no damaged sRGB or iCCP', async () => {
    const gama = (value: number) => pngChunk('gAMA', u32(value));
    const damaged = (chunk: Buffer) => Buffer.concat([chunk.subarray(0, chunk.length - 1), Buffer.from([chunk.at(-1)! ^ 1])]);
    assert.match((await reason(png([gama(100000), gama(45455)]))) ?? '', /gamma 1\.00/, 'the first gAMA counts');
    assert.match((await reason(png([pngChunk('iCCP', Buffer.from('name\0\0not zlib at all', 'latin1')), gama(100000)]))) ?? '', /gamma 1\.00/, 'a profile that does not inflate');
    assert.match((await reason(png([damaged(pngChunk('sRGB', Buffer.from([0]))), gama(100000)]))) ?? '', /gamma 1\.00/, 'an sRGB chunk with a bad CRC');
    assert.match((await reason(png([pngChunk('sRGB', Buffer.alloc(0)), gama(100000)]))) ?? '', /gamma 1\.00/, 'an empty sRGB chunk');
    // A real profile does override gAMA (libvips converts by it).
    const tagged = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).withIccProfile('p3').png().toBuffer();
    const iccp = pngChunkOf(tagged, 'iCCP');
    assert.ok(iccp, 'sharp wrote an iCCP chunk');
    assert.equal(await reason(png([iccp, gama(100000)])), undefined, 'a profile that inflates');
  });

  it('a JPEG whose EXIF resolution sets the size browsers draw it at (the HTML standard, Chromium)', async () => {
    assert.match((await reason(await jpegWithExif(exifBlock(144, 2, { width: 96, height: 64 })))) ?? '', /draw it at 96x64, not 192x128/);
    assert.match((await reason(await jpegWithExif(exifBlock(36, 2, { width: 384, height: 256 })))) ?? '', /draw it at 384x256/);
    // Rounding either way (review): 192 px at 144 dpi is 96; 191 px rounds to 96 one way, and 96 back to 192 the other.
    assert.deepEqual(exifDensitySize(exifBlock(144, 2, { width: 96, height: 64 }), 191, 128), { width: 96, height: 64 });
    // Browsers ignore it when the dimensions do not match the resolution, at 72 dpi, or in centimetres.
    assert.equal(await reason(await jpegWithExif(exifBlock(144, 2, { width: 100, height: 64 }))), undefined, 'dimensions that do not match');
    assert.equal(await reason(await jpegWithExif(exifBlock(72, 2, { width: 192, height: 128 }))), undefined, '72 dpi');
    assert.equal(await reason(await jpegWithExif(exifBlock(144, 3, { width: 96, height: 64 }))), undefined, 'centimetres');
    assert.deepEqual(exifDensitySize(Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), exifBlock(144, 2, { width: 96, height: 64 })]), 192, 128), { width: 96, height: 64 });
    assert.equal(exifDensitySize(Buffer.from('Exif\0\0MM\0*\0\0\0\x08\xff\xff', 'latin1'), 192, 128), undefined, 'a damaged IFD');
  });

  it('a CMYK JPEG (browsers convert it their own way), and a WebP turned by EXIF (browsers draw it unturned)', async () => {
    const image = sharp({ create: { width: 64, height: 48, channels: 3, background: '#2050ff' } });
    assert.match((await reason(await image.clone().toColourspace('cmyk').jpeg().toBuffer())) ?? '', /^CMYK JPEG/);
    assert.match((await reason(await image.clone().webp().withMetadata({ orientation: 6 }).toBuffer())) ?? '', /^EXIF orientation 6 in a WebP/);
    assert.equal(await reason(await image.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer()), undefined, 'a JPEG is turned by browsers as by libvips');
    assert.equal(await reason(await image.clone().webp().toBuffer()), undefined, 'a plain WebP');
  });
});

/** The whole chunk (length, type, data, CRC) of the first `type` chunk of a PNG. */
function pngChunkOf(file: Buffer, type: string): Buffer | undefined {
  for (let at = 8; at + 12 <= file.length; ) {
    const length = file.readUInt32BE(at);
    if (file.toString('latin1', at + 4, at + 8) === type) return file.subarray(at, at + 12 + length);
    at += 12 + length;
  }
  return undefined;
}
