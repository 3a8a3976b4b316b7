/**
 * Images that carry what browsers draw besides their pixels (an animation libvips does not read, colour chunks,
 * EXIF resolution): made byte by byte, for the tests of what the proxy passes through as it is.
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { pngChunk } from './bad-images.js';

export const u32 = (...values: number[]) => Buffer.concat(values.map((value) => Buffer.from([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255])));

/** A 16×16 RGB PNG of one colour, with `extra` chunks between IHDR and IDAT (where colour and animation chunks go). */
export function png(extra: Buffer[] = [], idat = Buffer.alloc(0)): Buffer {
  const ihdr = Buffer.concat([u32(16, 16), Buffer.from([8, 2, 0, 0, 0])]);
  const rows = Buffer.concat(Array.from({ length: 16 }, () => Buffer.concat([Buffer.from([0]), Buffer.alloc(48, 90)])));
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), pngChunk('IHDR', ihdr), ...extra, pngChunk('IDAT', deflateSync(rows)), idat, pngChunk('IEND', Buffer.alloc(0))]);
}

/** An APNG of two frames: acTL and the first fcTL before IDAT, the second frame as fcTL + fdAT after it. */
export function apng(): Buffer {
  const fctl = (sequence: number) => Buffer.concat([u32(sequence, 16, 16, 0, 0), Buffer.from([0, 50, 0, 100, 0, 0])]);
  const rows = Buffer.concat(Array.from({ length: 16 }, () => Buffer.concat([Buffer.from([0]), Buffer.alloc(48, 200)])));
  const second = Buffer.concat([pngChunk('fcTL', fctl(1)), pngChunk('fdAT', Buffer.concat([u32(2), deflateSync(rows)]))]);
  return png([pngChunk('acTL', u32(2, 0)), pngChunk('fcTL', fctl(0))], second);
}

/**
 * A TIFF block as EXIF carries it (big-endian): IFD0 with XResolution, YResolution and ResolutionUnit, and an Exif
 * IFD with PixelXDimension and PixelYDimension.
 */
export function exifBlock(resolution: number, unit: number, pixels: { width: number; height: number }): Buffer {
  const entry = (tag: number, type: number, value: number) => Buffer.concat([Buffer.from([tag >> 8, tag & 255, 0, type]), u32(1, value)]);
  // Layout: header (8), IFD0 at 8 (2 + 4 × 12 + 4 = 54), rationals at 62 (16), Exif IFD at 78 (2 + 2 × 12 + 4).
  const ifd0 = Buffer.concat([Buffer.from([0, 4]), entry(0x011a, 5, 62), entry(0x011b, 5, 70), entry(0x0128, 3, unit << 16), entry(0x8769, 4, 78), u32(0)]);
  const rationals = u32(resolution, 1, resolution, 1);
  const exifIfd = Buffer.concat([Buffer.from([0, 2]), entry(0xa002, 4, pixels.width), entry(0xa003, 4, pixels.height), u32(0)]);
  return Buffer.concat([Buffer.from('MM\0\x2a', 'latin1'), u32(8), ifd0, rationals, exifIfd]);
}

/** A 192×128 JPEG with that EXIF block in an APP1 segment after SOI. */
export async function jpegWithExif(tiff: Buffer): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 192, height: 128, channels: 3, background: '#3a7' } }).jpeg().toBuffer();
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 255]), payload]);
  return Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
}
