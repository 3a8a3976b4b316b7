import { inflateSync } from 'node:zlib';
import type { Metadata } from 'sharp';
import { type ImageType, pngChunkCrcHolds, pngChunks } from './structure.js';

/**
 * What a browser draws from an image file that a variant would not carry: the experiments decode with libvips to
 * 8-bit sRGB (SPEC §9 step 1) and write no metadata, so anything the browser takes from elsewhere in the file (more
 * frames, a colour encoding libvips does not apply, a size set by metadata) would come out looking different,
 * however small the DSSIM (which compares libvips' reading with libvips' reading). Such an original is passed
 * through as it is (SPEC §5.3), saying why. Measured against Chromium 156 (a hostile review, 2026-12-08).
 * `undefined` when the file holds nothing of the kind.
 */
export function unkeptRendering(type: ImageType, bytes: Uint8Array, metadata: Metadata): string | undefined {
  if (type === 'png') {
    const png = pngRenderingFault(bytes);
    if (png) return png;
  }
  if (type === 'jpeg' && metadata.space === 'cmyk') return 'CMYK JPEG: browsers convert its colours to RGB their own way, which a variant would not match';
  if (type === 'jpeg' && metadata.exif) {
    const density = exifDensitySize(metadata.exif, metadata.width ?? 0, metadata.height ?? 0);
    if (density) return `EXIF resolution makes browsers draw it at ${density.width}x${density.height}, not ${metadata.width}x${metadata.height}: a variant (no metadata) would change its size on the page`;
  }
  // Browsers turn a JPEG (and a PNG) by its EXIF orientation; a WebP or AVIF is drawn as stored (AVIF turns by its own
  // boxes, which libvips applies too), where libvips would turn it.
  if ((type === 'webp' || type === 'avif') && (metadata.orientation ?? 1) !== 1) {
    return `EXIF orientation ${metadata.orientation} in a ${type === 'webp' ? 'WebP' : 'AVIF'}: browsers draw it unturned, a variant would be turned`;
  }
  return undefined;
}

/** sRGB's primaries and white point (CIE xy), as a PNG's cHRM gives them (× 100000). */
const SRGB_CHRM = [31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000] as const;
/** gAMA 1/2.2, which old tools wrote for sRGB: drawn as a 2.2 power curve, within a few levels of sRGB's. */
const SRGB_GAMA = 45455;

/**
 * PNG chunks before the image data that browsers apply and libvips does not: an animation (APNG), and a colour
 * encoding given by cICP, or by gAMA/cHRM where no sRGB or iCCP chunk overrides them (iCCP is converted by
 * libvips like any profile). Read as libpng reads them: a colour chunk with a bad CRC is ignored, so is a second
 * gAMA or cHRM, an sRGB chunk of the wrong length and an iCCP chunk whose profile does not inflate.
 */
function pngRenderingFault(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let gama: number | undefined;
  let chrm: number[] | undefined;
  let srgbOrProfile = false;
  for (const chunk of pngChunks(bytes)) {
    const { type, data, end } = chunk;
    if (type === 'IDAT' || type === 'IEND' || end + 4 > bytes.length) break;
    if (type === 'acTL') return 'animated PNG (APNG): libvips reads its default image only, a variant would not move';
    if (!COLOUR_CHUNKS.has(type) || !pngChunkCrcHolds(bytes, chunk)) continue;
    const body = bytes.subarray(data, end);
    if (type === 'cICP' && body.length === 4) {
      const [primaries, transfer] = [body[0]!, body[1]!];
      // 1/13: BT.709 primaries with the sRGB curve, which is sRGB.
      if (primaries !== 1 || transfer !== 13) return `PNG colour encoding in a cICP chunk (primaries ${primaries}, transfer ${transfer}): browsers apply it, libvips does not`;
    }
    if ((type === 'sRGB' && body.length === 1) || (type === 'iCCP' && profileInflates(body))) srgbOrProfile = true;
    if (type === 'gAMA' && body.length === 4 && gama === undefined) gama = view.getUint32(data);
    if (type === 'cHRM' && body.length === 32 && chrm === undefined) chrm = Array.from({ length: 8 }, (_, i) => view.getUint32(data + 4 * i));
  }
  if (srgbOrProfile) return undefined;
  // Within 1% of 1/2.2.
  if (gama !== undefined && Math.abs(gama - SRGB_GAMA) > 455) return `PNG gamma ${(100000 / gama).toFixed(2)} (gAMA chunk): browsers apply it, libvips does not`;
  if (chrm && chrm.some((value, i) => Math.abs(value - SRGB_CHRM[i]!) > 1000)) return "PNG primaries other than sRGB's (cHRM chunk): browsers apply them, libvips does not";
  return undefined;
}

const COLOUR_CHUNKS = new Set(['cICP', 'sRGB', 'iCCP', 'gAMA', 'cHRM']);

/** An iCCP chunk as libpng takes it: a name of 1–79 bytes, a NUL, method 0, and a zlib stream that inflates. */
function profileInflates(body: Uint8Array): boolean {
  const nul = body.indexOf(0);
  if (nul < 1 || nul > 79 || body[nul + 1] !== 0) return false;
  try {
    return inflateSync(body.subarray(nul + 2), { maxOutputLength: 16 * 2 ** 20 }).length >= 132;
  } catch {
    return false;
  }
}

/**
 * The HTML standard's density-corrected natural width and height (from EXIF; Chromium applies it to JPEG):
 * with the resolution in inches and the pixel dimensions EXIF names matching the image at that resolution, the
 * image is drawn at those dimensions. `undefined` when that does not apply or changes nothing.
 */
export function exifDensitySize(exif: Uint8Array, width: number, height: number): { width: number; height: number } | undefined {
  const tiff = readTiff(exif);
  if (!tiff) return undefined;
  const unit = tiff.ifd0.get(0x0128)?.[0] ?? 2;
  const resX = tiff.ifd0.get(0x011a)?.[0];
  const resY = tiff.ifd0.get(0x011b)?.[0];
  const dimX = tiff.exif.get(0xa002)?.[0];
  const dimY = tiff.exif.get(0xa003)?.[0];
  if (unit !== 2 || !resX || !resY || !dimX || !dimY || !(resX > 0 && resY > 0)) return undefined;
  // Whichever way a browser rounds (the dimensions from the size at that resolution, or back): both are taken.
  const matches = (dim: number, res: number, physical: number) => Math.round((dim * res) / 72) === physical || Math.round((physical * 72) / res) === dim;
  if (!matches(dimX, resX, width) || !matches(dimY, resY, height)) return undefined;
  return dimX === width && dimY === height ? undefined : { width: dimX, height: dimY };
}

/** The numeric fields of a TIFF/EXIF block's IFD0 and Exif IFD (SHORT, LONG, RATIONAL as numbers). */
function readTiff(exif: Uint8Array): { ifd0: Map<number, number[]>; exif: Map<number, number[]> } | undefined {
  const start = exif.length >= 6 && String.fromCharCode(...exif.subarray(0, 4)) === 'Exif' ? 6 : 0;
  const view = new DataView(exif.buffer, exif.byteOffset + start, exif.byteLength - start);
  if (view.byteLength < 8) return undefined;
  const order = view.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const little = order === 0x4949;
  const u16 = (at: number) => view.getUint16(at, little);
  const u32 = (at: number) => view.getUint32(at, little);
  const ifd = (at: number): Map<number, number[]> => {
    const fields = new Map<number, number[]>();
    if (at <= 0 || at + 2 > view.byteLength) return fields;
    const count = u16(at);
    for (let i = 0; i < count && at + 2 + 12 * (i + 1) <= view.byteLength; i += 1) {
      const entry = at + 2 + 12 * i;
      const [tag, kind, n] = [u16(entry), u16(entry + 2), u32(entry + 4)];
      if (n !== 1) continue;
      if (kind === 3) fields.set(tag, [u16(entry + 8)]);
      else if (kind === 4) fields.set(tag, [u32(entry + 8)]);
      else if (kind === 5) {
        const value = u32(entry + 8);
        if (value + 8 <= view.byteLength && u32(value + 4) !== 0) fields.set(tag, [u32(value) / u32(value + 4)]);
      }
    }
    return fields;
  };
  const ifd0 = ifd(u32(4));
  return { ifd0, exif: ifd(ifd0.get(0x8769)?.[0] ?? 0) };
}
