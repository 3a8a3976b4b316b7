import { crc32 } from 'node:zlib';

/** The image formats the proxy reads (by magic bytes: see probe.ts). */
export type ImageType = 'jpeg' | 'png' | 'gif' | 'webp' | 'avif';

/**
 * What is structurally wrong with an image file, found by walking its container without decoding it (cheap
 * enough for the request path): a file cut short, or a PNG whose critical chunks fail their CRC (browsers show
 * such an image broken or partial: the proxy must pass it through as it is, not "repair" it into a variant).
 * `undefined` when nothing is found; the decode in the experiments finds the rest.
 */
export function structuralFault(type: ImageType, bytes: Uint8Array): string | undefined {
  switch (type) {
    case 'jpeg':
      return jpegFault(bytes);
    case 'png':
      return pngFault(bytes);
    case 'gif':
      return gifFault(bytes);
    case 'webp':
      return webpFault(bytes);
    case 'avif':
      return isoBoxFault(bytes);
  }
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

/** A PNG chunk found by `pngChunks`: its type, where its data starts and ends (its CRC follows). */
export interface PngChunk {
  readonly type: string;
  readonly data: number;
  readonly end: number;
}

/**
 * The chunks of a PNG in file order, by their lengths only: each whose head fits in `bytes`, the last possibly
 * running past its end (`end + 4 > bytes.length`: the caller decides what that means).
 */
export function* pngChunks(bytes: Uint8Array): Generator<PngChunk> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 12 <= bytes.length; ) {
    const data = at + 8;
    const end = data + view.getUint32(at);
    yield { type: String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!), data, end };
    at = end + 4;
  }
}

/** Whether a chunk's CRC (over its type and data) is right. */
export function pngChunkCrcHolds(bytes: Uint8Array, chunk: PngChunk): boolean {
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(chunk.end);
  return crc32(bytes.subarray(chunk.data - 4, chunk.end)) >>> 0 === stored;
}

/**
 * A PNG's chunks are walked to IEND; the critical ones must match their CRC (as libpng, and so Chromium, checks)
 * in a file of up to `CRC_CHECKED_BYTES` (a larger one is left to the decoder).
 */
function pngFault(bytes: Uint8Array): string | undefined {
  for (const chunk of pngChunks(bytes)) {
    if (chunk.end + 4 > bytes.length) return 'truncated PNG: a chunk runs past the end of the file';
    // Critical chunks: the first letter upper-case.
    if (bytes.length <= CRC_CHECKED_BYTES && chunk.type.charCodeAt(0) < 0x61 && !pngChunkCrcHolds(bytes, chunk)) return `damaged PNG: bad CRC in its ${chunk.type} chunk`;
    if (chunk.type === 'IEND') return undefined;
  }
  return 'truncated PNG: no IEND chunk';
}

/**
 * A GIF's blocks are walked by their lengths (extensions and images as chains of sub-blocks): a block that runs
 * past the end of the file is a file cut short. A file that ends between blocks without its trailer byte is
 * let be: some encoders leave it out, and browsers show such a GIF whole.
 */
function gifFault(bytes: Uint8Array): string | undefined {
  const truncated = 'truncated GIF: a block runs past the end of the file';
  if (bytes.length < 13) return 'truncated GIF: it ends inside its header';
  let at = 13 + colourTableBytes(bytes[10]!);
  const subBlocks = (from: number): number => {
    let next = from;
    while (next < bytes.length && bytes[next] !== 0) next += 1 + bytes[next]!;
    return next < bytes.length ? next + 1 : -1;
  };
  while (at < bytes.length) {
    const introducer = bytes[at]!;
    if (introducer === 0x3b) return undefined;
    if (introducer === 0x21) {
      at = subBlocks(at + 2);
    } else if (introducer === 0x2c) {
      if (at + 10 > bytes.length) return truncated;
      // Descriptor, local colour table, LZW code size, then the image data's sub-blocks.
      at = subBlocks(at + 10 + colourTableBytes(bytes[at + 9]!) + 1);
    } else {
      return 'damaged GIF: a block of an unknown kind';
    }
    if (at < 0) return truncated;
  }
  return at === bytes.length ? undefined : truncated;
}

/** The size of the colour table a GIF's packed field announces (none unless its top bit is set). */
function colourTableBytes(packed: number): number {
  return packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0;
}

/** A WebP's RIFF header says how long the file is: shorter is a file cut short (longer is trailing bytes, ignored). */
function webpFault(bytes: Uint8Array): string | undefined {
  if (bytes.length < 12) return 'truncated WebP: it ends inside its header';
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  return 8 + declared > bytes.length ? `truncated WebP: ${bytes.length} bytes of the ${8 + declared} its header announces` : undefined;
}

/**
 * AVIF (and HEIF) files are boxes of ISO BMFF, each with its length: a top-level box that runs past the end of
 * the file is a file cut short. A few stray bytes after the last box are ignored, as decoders do.
 */
function isoBoxFault(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seen = new Map<string, Uint8Array>();
  // Image data lives in an `mdat` box after the `meta` box, or (rarely) in an `idat` box inside it: a file cut
  // between its boxes has no `mdat`.
  const complete = () => {
    const meta = seen.get('meta');
    if (!meta) return `truncated ${isoName(bytes)}: no meta box`;
    if (!seen.has('mdat') && Buffer.from(meta).indexOf('idat') < 0) return `truncated ${isoName(bytes)}: no image data (mdat box)`;
    return undefined;
  };
  let at = 0;
  while (at + 8 <= bytes.length) {
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    let size = view.getUint32(at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > bytes.length) return `truncated ${isoName(bytes)}: it ends inside a box header`;
      size = Number(view.getBigUint64(at + 8));
      header = 16;
    }
    // Size 0: the box runs to the end of the file.
    if (size === 0) size = bytes.length - at;
    if (size < header) return `damaged ${isoName(bytes)}: its ${type} box has an impossible length`;
    if (at + size > bytes.length) return `truncated ${isoName(bytes)}: its ${type} box runs past the end of the file`;
    seen.set(type, bytes.subarray(at, at + size));
    at += size;
  }
  return complete();
}

/** By the major brand of its `ftyp` box. */
function isoName(bytes: Uint8Array): string {
  const brand = Buffer.from(bytes.subarray(8, 12)).toString('latin1');
  return brand === 'avif' || brand === 'avis' ? 'AVIF' : 'HEIF';
}
