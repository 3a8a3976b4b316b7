import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

/** The content codings a rewritten document can arrive in (identity needs no decoder). */
export type CompressedCoding = 'gzip' | 'deflate' | 'br';

/** Raised when a body cannot be decoded at all: the page is lost, the client gets a 502 or a cut response. */
export class ContentDecodingError extends Error {
  override name = 'ContentDecodingError';
  readonly code = 'SLIMPROXY_CONTENT_DECODING';
}

/**
 * A gzip header longer than this (a file name or comment that never ends) is refused rather than buffered:
 * real headers are a few dozen bytes.
 */
const MAX_GZIP_HEADER = 64 * 1024;

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

/**
 * The length of the gzip member header at the start of `bytes` (RFC 1952 §2.3), `'incomplete'` when more bytes
 * are needed, or `'invalid'` when this is not gzip. Like Chromium's `GZipHeader`, the reserved flag bits are not
 * checked; the magic bytes and the method (8, deflate) are.
 */
export function gzipHeaderLength(bytes: Buffer): number | 'incomplete' | 'invalid' {
  if (bytes.length >= 1 && bytes[0] !== 0x1f) return 'invalid';
  if (bytes.length >= 2 && bytes[1] !== 0x8b) return 'invalid';
  if (bytes.length >= 3 && bytes[2] !== 8) return 'invalid';
  if (bytes.length < 10) return 'incomplete';
  const flags = bytes[3]!;
  let at = 10;
  if (flags & FEXTRA) {
    if (bytes.length < at + 2) return 'incomplete';
    at += 2 + bytes.readUInt16LE(at);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    const zero = bytes.indexOf(0, at);
    if (zero === -1) return 'incomplete';
    at = zero + 1;
  }
  if (flags & FHCRC) at += 2;
  return bytes.length < at ? 'incomplete' : at;
}

/**
 * Whether two bytes open a zlib stream (RFC 1950 §2.2): method 8 with a window of at most 32 KiB, and the check
 * bits right. Chromium sniffs "deflate" the same way and inflates anything else as raw deflate (RFC 1951), which
 * is what several servers (old IIS among them) send.
 */
export function isZlibHeader(first: number, second: number): boolean {
  return (first & 0x0f) === 8 && first >> 4 <= 7 && ((first << 8) | second) % 31 === 0;
}

/**
 * Takes the wrapper off a gzip member or a zlib stream, so that the deflate data inside goes to a raw inflater.
 * What follows the deflate data (the gzip CRC32 and ISIZE, the zlib Adler-32, more members, stray bytes) reaches
 * the inflater after its stream has ended, and a raw inflater ignores it: nothing checks the trailer, as in
 * Chromium's `GzipSourceStream` (a page whose checksum is wrong is still shown there, so it must be here).
 */
class WrapperRemover extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0);

  constructor(private readonly coding: 'gzip' | 'deflate') {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.head) {
      callback(null, chunk);
      return;
    }
    const head = Buffer.concat([this.head, chunk]);
    if (this.coding === 'deflate') {
      if (head.length < 2) {
        this.head = head;
        callback();
        return;
      }
      this.head = undefined;
      if (!isZlibHeader(head[0]!, head[1]!)) {
        callback(null, head);
        return;
      }
      // A preset dictionary (FDICT) is one nobody but the sender has: no browser decodes such a page either.
      if (head[1]! & 0x20) {
        callback(new ContentDecodingError('deflate stream asks for a preset dictionary'));
        return;
      }
      callback(null, head.subarray(2));
      return;
    }
    const length = gzipHeaderLength(head);
    if (length === 'invalid') {
      callback(new ContentDecodingError('not a gzip stream (bad magic bytes or method)'));
      return;
    }
    if (length === 'incomplete') {
      if (head.length > MAX_GZIP_HEADER) {
        callback(new ContentDecodingError(`gzip header longer than ${MAX_GZIP_HEADER} bytes`));
        return;
      }
      this.head = head;
      callback();
      return;
    }
    this.head = undefined;
    callback(null, head.subarray(length));
  }

  override _flush(callback: TransformCallback): void {
    // A deflate body of one byte cannot be sniffed: it goes to the raw inflater as it is. A gzip body that ends
    // inside its header decodes to nothing, as in Chromium.
    if (this.coding === 'deflate' && this.head && this.head.length > 0) callback(null, this.head);
    else callback();
  }
}

/**
 * Whether a failed body pipeline failed in a decoder (ours, zlib's or brotli's), not at the origin or client.
 * zlib tags its errors with codes such as `Z_DATA_ERROR`, brotli with `ERR_BROTLI_…` or `ERR__ERROR_FORMAT_…`.
 */
export function isDecodingError(err: unknown): boolean {
  if (err instanceof ContentDecodingError) return true;
  const code = String((err as NodeJS.ErrnoException | undefined)?.code ?? '');
  return code.startsWith('Z_') || code.startsWith('ERR_BROTLI') || code.startsWith('ERR__ERROR_FORMAT');
}

/**
 * The stages that decode a body in `coding`, as leniently as Chromium: gzip without checking its trailer and
 * ignoring what follows the first member, deflate with or without its zlib header and without checking its
 * Adler-32, a body that ends early decoded as far as it goes (`Z_SYNC_FLUSH` at the end instead of an error).
 * Brotli has no such variants; a brotli body that ends early is decoded as far as it goes too. A body that cannot
 * be decoded errors with a `ContentDecodingError` or a zlib error (see `isDecodingError`).
 *
 * zlib's streams stop inflating while their reader is behind, so a small body that expands a thousandfold is
 * never held in memory whole.
 */
export function lenientDecoder(coding: CompressedCoding): Transform[] {
  // A brotli body cut short is decoded as far as it goes, as Chromium shows it (a flush at the end, no error).
  if (coding === 'br') return [zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH })];
  return [new WrapperRemover(coding), zlib.createInflateRaw({ finishFlush: zlib.constants.Z_SYNC_FLUSH })];
}
