import type { Capabilities } from '../client/index.js';

/** The media type alone, lower-cased (`image/webp; q=1` → `image/webp`). */
function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/**
 * SPEC §5.5: a mark is a promise. Whether bytes of this `Content-Type` may answer a request whose mark (or, in
 * place, whose `Accept`) grants `capabilities`: WebP and AVIF only where granted, an SVG the proxy made
 * (ZorroSVG) only with `zorro`. An SVG original, or any other format the origin itself serves for the URL, is
 * what the page asked for and no choice of ours. Checked where the bytes are sent, whatever supplied them (the
 * origin, the store, another instance).
 */
export function allowedByMark(contentType: string, capabilities: Capabilities, madeByUs: boolean): boolean {
  switch (mediaType(contentType)) {
    case 'image/webp':
      return capabilities.webp;
    case 'image/avif':
      return capabilities.avif;
    case 'image/svg+xml':
      return !madeByUs || capabilities.zorro;
    default:
      return true;
  }
}
