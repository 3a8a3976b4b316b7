import zlib from 'node:zlib';

/** A PNG chunk: length, type, data and CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A valid PNG of `width`×`height` 1-bit grey pixels, all black: a few hundred KB on disk for 900 megapixels at
 * 30000×30000 — what a decoder without an area limit would try to allocate.
 */
export function decompressionBombPng(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // greyscale
  // Each row: filter byte 0, then the packed bits; all zero.
  const rowBytes = 1 + Math.ceil(width / 8);
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    pngChunk('IHDR', header),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(rowBytes * height), { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * An animated GIF whose screen is `side`×`side` with `frames` frames of one pixel each: a few KB on disk, and
 * side² × frames pixels decoded (each frame is drawn on the whole screen).
 */
export function animationBombGif(side: number, frames: number): Buffer {
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(side, 0);
  screen.writeUInt16LE(side, 2);
  screen[4] = 0x80; // a global colour table of 2 entries
  const colours = Buffer.from([0, 0, 0, 255, 255, 255]);
  const loop = Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0', 'latin1'), 0x03, 0x01, 0x00, 0x00, 0x00]);
  const frame = Buffer.from([
    0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00, // graphic control: 100 ms
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // a 1×1 image at 0,0
    0x02, 0x02, 0x44, 0x01, 0x00, // LZW minimum code size 2, one block: clear, pixel 0, end
  ]);
  return Buffer.concat([Buffer.from('GIF89a', 'latin1'), screen, colours, loop, ...Array.from({ length: frames }, () => frame), Buffer.from([0x3b])]);
}

/** A JPEG with the payload of its quantisation and Huffman tables zeroed: its headers parse, its data does not decode. */
export function zeroedTablesJpeg(jpeg: Buffer): Buffer {
  const out = Buffer.from(jpeg);
  let at = 2;
  while (at + 4 <= out.length && out[at] === 0xff) {
    const marker = out[at + 1]!;
    const length = out.readUInt16BE(at + 2);
    if (marker === 0xda) break;
    if (marker === 0xdb || marker === 0xc4) out.fill(0, at + 5, at + 2 + length);
    at += 2 + length;
  }
  return out;
}

/** A PNG with one byte of its image data changed: its IDAT chunk fails its CRC. */
export function badCrcPng(png: Buffer): Buffer {
  const out = Buffer.from(png);
  const idat = out.indexOf('IDAT', 8, 'latin1');
  out[idat + 10] = out[idat + 10]! ^ 0xff;
  return out;
}
