import sharp, { type Metadata } from 'sharp';
import { unkeptRendering } from './rendering-facts.js';
import { type ImageType, structuralFault } from './structure.js';

/** Image types by their first bytes (never by extension or `Content-Type`: both lie on legacy sites). */
export type { ImageType } from './structure.js';

/** Whether `bytes` hold the latin1 characters of `text` from `at` (compared byte by byte: the request path sniffs). */
function holds(bytes: Uint8Array, at: number, text: string): boolean {
  if (bytes.length < at + text.length) return false;
  for (let i = 0; i < text.length; i += 1) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

export function sniffImageType(bytes: Uint8Array): ImageType | 'svg' | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (holds(bytes, 0, '\x89PNG\r\n\x1a\n')) return 'png';
  if (holds(bytes, 0, 'GIF87a') || holds(bytes, 0, 'GIF89a')) return 'gif';
  if (holds(bytes, 0, 'RIFF') && holds(bytes, 8, 'WEBP')) return 'webp';
  if (holds(bytes, 4, 'ftyp') && /avi[fs]/.test(Buffer.from(bytes.subarray(8, 32)).toString('latin1'))) return 'avif';
  return isSvg(Buffer.from(bytes.subarray(0, 4096)).toString('latin1')) ? 'svg' : undefined;
}

/**
 * An SVG document: after a byte-order mark, white space, an XML declaration, processing instructions, comments
 * and a doctype, the root element is `svg` (with or without a prefix). An HTML page with an inline `<svg>` is not.
 */
function isSvg(head: string): boolean {
  let rest = head.replace(/^(?:\uFEFF|\xEF\xBB\xBF)/, '');
  for (;;) {
    rest = rest.trimStart();
    const prolog = /^(?:<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>[]*(?:\[[\s\S]*?\])?\s*>)/i.exec(rest);
    if (!prolog) break;
    rest = rest.slice(prolog[0].length);
  }
  return /^<(?:[\w.-]+:)?svg[\s/>]/.test(rest);
}

/**
 * Image formats the experiments do not read, which sites still serve: kept (only image bytes are stored, SPEC
 * §8) and passed through as they are.
 */
function otherImageType(bytes: Uint8Array): string | undefined {
  const ascii = (start: number, end: number) => Buffer.from(bytes.subarray(start, end)).toString('latin1');
  // "BM" alone starts text too: the DIB header that follows has one of a few sizes.
  if (ascii(0, 2) === 'BM' && bytes.length > 26 && [12, 40, 52, 56, 64, 108, 124].includes(Buffer.from(bytes.subarray(14, 18)).readUInt32LE(0))) return 'bmp';
  if (bytes[0] === 0 && bytes[1] === 0 && (bytes[2] === 1 || bytes[2] === 2) && bytes[3] === 0 && bytes.length > 6) return 'ico';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'tiff';
  if (ascii(4, 8) === 'ftyp') return 'heif';
  if ((bytes[0] === 0xff && bytes[1] === 0x0a) || ascii(0, 12) === '\0\0\0\x0cJXL \r\n\x87\n') return 'jxl';
  return undefined;
}

/** Whether bytes are an image by their first bytes: what the store admits (SPEC §8). */
export function isImageBytes(bytes: Uint8Array): boolean {
  return sniffImageType(bytes) !== undefined || otherImageType(bytes) !== undefined;
}

/** What an experiment needs to know of an original before it starts. */
export interface ImageFacts {
  readonly type: ImageType;
  readonly width: number;
  /** Of one frame. */
  readonly height: number;
  readonly frames: number;
  readonly hasAlpha: boolean;
}

export interface ProbeLimits {
  /** Decoded pixels of the whole image: width x height, times the frames of an animation. */
  readonly maxPixels: number;
  readonly maxFrames: number;
  /** `<limits max-experiment-memory>`: what one experiment worker may hold (pixels, DSSIM planes); default 1 GiB. */
  readonly maxMemoryBytes?: number;
}

/** SPEC §5.3: why an image is passed through as it is. */
export type ProbeResult = { readonly ok: true; readonly facts: ImageFacts } | { readonly ok: false; readonly reason: string };

/**
 * Reads what an original is from its header, without decoding the pixels: the type by magic bytes, the size
 * against the area limit (a decompression bomb is refused here, before any allocation), the frame count.
 * Never throws: anything wrong is a reason.
 */
export async function probeImage(bytes: Uint8Array, limits: ProbeLimits): Promise<ProbeResult> {
  if (bytes.length === 0) return { ok: false, reason: 'empty body' };
  const type = sniffImageType(bytes);
  if (type === 'svg') return { ok: false, reason: 'SVG' };
  if (!type) return { ok: false, reason: 'not an image' };
  const fault = structuralFault(type, bytes);
  if (fault) return { ok: false, reason: fault };
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { animated: true, limitInputPixels: false }).metadata();
  } catch (err) {
    return { ok: false, reason: `cannot read the ${type} header: ${(err as Error).message}` };
  }
  const width = metadata.width ?? 0;
  const height = metadata.pageHeight ?? metadata.height ?? 0;
  const frames = metadata.pages ?? 1;
  if (width <= 0 || height <= 0) return { ok: false, reason: `no dimensions in the ${type} header` };
  if (width * height > limits.maxPixels) {
    return { ok: false, reason: `larger than the maximum image area: ${width}x${height} > ${(limits.maxPixels / 1e6).toFixed(1)} MP` };
  }
  if (frames > limits.maxFrames) return { ok: false, reason: `animation over the frame limit: ${frames} > ${limits.maxFrames} frames` };
  if (type === 'gif') {
    // Browsers draw every frame on the screen the header declares; libvips takes a screen it finds implausible
    // (over 2048 px) for a mistake and uses the frame size. Either way the declared screen is what counts.
    const screen = { width: bytes[6]! | (bytes[7]! << 8), height: bytes[8]! | (bytes[9]! << 8) };
    if (screen.width * screen.height * frames > limits.maxPixels) {
      return { ok: false, reason: `animation larger than the maximum image area decoded: ${screen.width}x${screen.height} x ${frames} frames > ${(limits.maxPixels / 1e6).toFixed(1)} MP` };
    }
    if (screen.width !== width || screen.height !== height) return { ok: false, reason: `GIF screen ${screen.width}x${screen.height} decodes as ${width}x${height}: passed through as it is` };
  }
  // Decoded, an animation is every frame at the screen's size: a tiny file of many large frames is a bomb too.
  if (frames > 1 && width * height * frames > limits.maxPixels) {
    return { ok: false, reason: `animation larger than the maximum image area decoded: ${width}x${height} x ${frames} frames > ${(limits.maxPixels / 1e6).toFixed(1)} MP` };
  }
  const unkept = unkeptRendering(type, bytes, metadata);
  if (unkept) return { ok: false, reason: unkept };
  return { ok: true, facts: { type, width, height, frames, hasAlpha: metadata.hasAlpha === true } };
}
