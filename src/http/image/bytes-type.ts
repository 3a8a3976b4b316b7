import { gunzipSync } from 'node:zlib';
import { sniffImageType } from '../../images/probe.js';

/** The most a gzip-coded variant (a ZorroSVG) may inflate to: the SVG of a 50 MP image's JPEG and mask is far less. */
const MAX_INFLATED_SVG = 256 * 2 ** 20;

/**
 * The media type of bytes by what they are where their first bytes say (a `Content-Type` or a record may lie),
 * else as declared; gzip-coded bytes are the proxy's ZorroSVG (checked once, when they come from elsewhere:
 * `inflatesToSvg`).
 */
export function bytesType(declared: { readonly contentType: string; readonly contentEncoding?: 'gzip' }, bytes: Buffer): string {
  if (declared.contentEncoding === 'gzip') return 'image/svg+xml';
  const sniffed = sniffImageType(bytes);
  return sniffed === undefined ? declared.contentType : sniffed === 'svg' ? 'image/svg+xml' : `image/${sniffed}`;
}

/**
 * Whether gzip-coded bytes inflate (within a bound) to an SVG: a record saying "gzip" must not carry a WebP to a
 * browser that has only ZorroSVG.
 */
export function inflatesToSvg(bytes: Buffer): boolean {
  try {
    return sniffImageType(gunzipSync(bytes, { maxOutputLength: MAX_INFLATED_SVG })) === 'svg';
  } catch {
    return false;
  }
}
