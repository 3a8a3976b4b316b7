import { crc32 } from 'node:zlib';
import type { ImageType } from './probe.js';

/**
 * What is structurally wrong with an image file, found by walking its container without decoding it (cheap
 * enough for the request path): a file cut short, or a PNG whose critical chunks fail their CRC (browsers show
 * such an image broken or partial: the proxy must pass it through as it is, not "repair" it into a variant).
 * `undefined` when nothing is found; the decode in the experiments finds the rest.
 */
export function structuralFault(type: ImageType, bytes: Uint8Array): string | undefined {
  if (type === 'jpeg') return jpegFault(bytes);
  if (type === 'png') return pngFault(bytes);
  return undefined;
}

/**
 * A JPEG's segments are walked by their lengths up to the first scan; after it an end-of-image marker must
 * follow. (Inside entropy-coded data a 0xFF is always followed by 0x00 or a restart marker, so the first FFD9
 * after the scan starts is the real end; one inside an EXIF thumbnail lies in a segment that is skipped.)
 */
function jpegFault(bytes: Uint8Array): string | undefined {
  let at = 2;
  for (;;) {
    if (at + 4 > bytes.length) return 'truncated JPEG: it ends inside its headers';
    if (bytes[at] !== 0xff) return 'damaged JPEG: a header segment does not start with a marker';
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    if (marker === 0xd9) return 'damaged JPEG: it ends before any image data';
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2) return 'damaged JPEG: a header segment with an impossible length';
    if (marker === 0xda) break;
    at += 2 + length;
  }
  // Buffer's search is native: a 50 MB scan costs the event loop milliseconds, not a JavaScript loop's tens.
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return data.indexOf(END_OF_IMAGE, at + 2) >= 0 ? undefined : 'truncated JPEG: no end-of-image marker after its image data';
}

const END_OF_IMAGE = Buffer.from([0xff, 0xd9]);
/** CRCs are checked up to this size: beyond, the check would hold the event loop for milliseconds per request. */
const CRC_CHECKED_BYTES = 8 * 2 ** 20;

/**
 * A PNG's chunks are walked to IEND; the critical ones must match their CRC (as libpng, and so Chromium, checks)
 * in a file of up to `CRC_CHECKED_BYTES` (a larger one is left to the decoder).
 */
function pngFault(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = view.getUint32(at);
    const end = at + 12 + length;
    if (end > bytes.length) return 'truncated PNG: a chunk runs past the end of the file';
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    // Critical chunks: the first letter upper-case.
    if (bytes.length <= CRC_CHECKED_BYTES && type.charCodeAt(0) < 0x61 && crc32(bytes.subarray(at + 4, end - 4)) !== view.getUint32(end - 4)) return `damaged PNG: bad CRC in its ${type} chunk`;
    if (type === 'IEND') return undefined;
    at = end;
  }
  return 'truncated PNG: no IEND chunk';
}
