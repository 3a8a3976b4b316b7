import type { IncomingHttpHeaders } from 'node:http';
import { capabilitiesFromAccept } from '../client/from-accept.js';
import type { Capabilities } from '../client/capabilities.js';
import { clientDpr, dprStep } from '../client/viewport.js';
import { QUALITY_METHODS, type QualityMethod, qualityTarget } from '../config/index.js';
import type { EngineSettings } from '../images/experiment.js';
import { type ImageTransform, type OutputFormat, reshapePlan } from '../images/transform-options.js';
import { headerText } from './header-values.js';
import { type ImageSigning, SIGNATURE_PARAMETER, verifyImageSignature } from './image-signature.js';

/**
 * `<image-api enabled="true"/>`: explicit image options on an image URL's query (imgproxy/imgix style), for
 * assets a script references. Every option, its aliases and what it allows; anything else in the query belongs
 * to the origin and stays.
 */
export const OPTION_NAMES = new Set(['format', 'fm', 'quality', 'q', 'autoquality', 'size', 'dpr', 'resize_algorithm', 'crop']);

/**
 * Paths of images by their extension (query aside). Options are read from such a URL, or from any URL whose
 * request says `Accept: image/…` (an image element's), and from no other: a page or an API of the origin that uses
 * `format=` or `size=` for itself is left alone (public-server.ts, isImageRequest).
 */
export const IMAGE_PATH = /^[^?#]*\.(jpe?g|png|gif|webp|avif)(\?|#|$)/i;

const FORMATS = ['jpeg', 'png', 'webp', 'avif', 'auto'] as const;
const QUALITY_PRESETS: Readonly<Record<string, number | 'lossless'>> = { high: 95, medium: 80, low: 65, lossless: 'lossless' };
const ALGORITHMS = ['lanczos3', 'thumbnail', 'auto'] as const;

export interface ImageOptions {
  readonly transform: ImageTransform;
  /** The URL as the origin must see it: the options taken out. */
  readonly originUrl: string;
  /** Request headers the answer depends on (for `Vary`). */
  readonly vary: readonly string[];
  /** Quality settings in place of the configured ones (scaling: a high fixed quality, not compression). */
  readonly encoding?: Partial<EngineSettings>;
  /** Send the original as it is when it is no wider than this (scaling: nothing to do). */
  readonly onlyWiderThan?: number;
  /** A marked URL's capabilities: what is sent must be in a format they allow (SPEC §5.5), the original too. */
  readonly mark?: Capabilities;
}

/** A bad option value: the answer is `status` (400) with this message. */
export class ImageOptionError extends Error {
  readonly status: 400 | 403 = 400;
  /** What the refusal is counted as (`slimproxy_refused_requests_total`). */
  readonly refusal: string = 'image option';
}

/** Options without a valid signature while `<image-api key salt>` is set: 403, nothing fetched or made. */
export class ImageSignatureError extends ImageOptionError {
  override readonly status = 403;
  override readonly refusal = 'image signature';
}

function fail(name: string, value: string, allowed: string): never {
  throw new ImageOptionError(`image option ${name}=${value}: must be ${allowed}`);
}

/** A query part decoded, or as it is when it is not valid percent-encoding (a bad URL is never a crash). */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const positiveInteger = (text: string) => (/^\d{1,5}$/.test(text) && Number(text) > 0 ? Number(text) : undefined);

/** The formats an `Accept` header lists by name (wildcards do not promise WebP or AVIF), as SPEC §7 reads it. */
function acceptedFormats(headers: IncomingHttpHeaders): OutputFormat[] {
  const accepts = capabilitiesFromAccept(headerText(headers.accept));
  return (['avif', 'webp'] as const).filter((format) => accepts[format]);
}

/**
 * What a marked URL's answer must not be in, the original's own format included (a WebP resized for `m=ic`): a
 * mark is a promise on whatever is sent (SPEC §5.5).
 */
export function refusedFormats(mark: Capabilities | undefined): OutputFormat[] {
  return mark ? (['webp', 'avif'] as const).filter((f) => !mark[f]) : [];
}

/**
 * The options of a request URL, or `undefined` when it has none (then the image passes untouched, no decode).
 * Throws ImageOptionError for a value that is not allowed, naming the option and what it allows; with `signing`,
 * ImageSignatureError for options without a valid signature, before any value is read.
 */
export function readImageOptions(url: string, headers: IncomingHttpHeaders, mark?: Capabilities, signing: ImageSigning | null = null): ImageOptions | undefined {
  const question = url.indexOf('?');
  if (question < 0) return undefined;
  const path = url.slice(0, question);
  const query = url.slice(question + 1);
  const kept: string[] = [];
  const options = new Map<string, string>();
  for (const part of query.split('&')) {
    // Ours, like the options: the origin never sees it.
    if (part.split('=')[0] === SIGNATURE_PARAMETER) continue;
    const name = decoded(part.split('=')[0] ?? '').toLowerCase();
    if (!OPTION_NAMES.has(name)) {
      if (part !== '') kept.push(part);
      continue;
    }
    const value = decoded(part.slice(part.indexOf('=') + 1 || part.length).replace(/\+/g, ' ')).trim().toLowerCase();
    options.set(name, value);
  }
  if (options.size === 0) return undefined;
  if (signing) {
    const signed = verifyImageSignature(url, signing);
    if (!signed.ok) throw new ImageSignatureError(`image options need a valid signature: ${signed.reason}`);
  }
  const vary: string[] = [];

  // format / fm: the same option; with both, one may be "auto" and the other its fallback.
  const formats = [options.get('format'), options.get('fm')].filter((v): v is string => v !== undefined);
  for (const [i, value] of formats.entries()) {
    if (!(FORMATS as readonly string[]).includes(value)) fail(i === 0 && options.has('format') ? 'format' : 'fm', value, `one of ${FORMATS.join(', ')}`);
  }
  let format: ImageTransform['format'];
  if (formats.length > 0) {
    const auto = formats.includes('auto');
    const explicit = formats.filter((f) => f !== 'auto') as OutputFormat[];
    if (explicit.length === 2 && explicit[0] !== explicit[1]) fail('fm', explicit[1]!, `the same as format (${explicit[0]}), or "auto" on one of them`);
    // On a marked URL the mark decides, not Accept (SPEC §5.5: a mark is a promise): `auto` picks among what the
    // mark allows, and a format it does not allow gives way to the one every client decodes.
    const allowed = (f: OutputFormat) => !mark || (f !== 'webp' && f !== 'avif') || mark[f];
    if (auto) {
      format = { auto: mark ? (['avif', 'webp'] as const).filter((f) => mark[f]) : acceptedFormats(headers), ...(explicit[0] && allowed(explicit[0]) ? { fallback: explicit[0] } : {}) };
      if (!mark) vary.push('Accept');
    } else {
      format = allowed(explicit[0]!) ? explicit[0]! : { auto: [] };
    }
  }

  let quality: ImageTransform['quality'];
  const qualityText = options.get('quality') ?? options.get('q');
  if (qualityText !== undefined) {
    const name = options.has('quality') ? 'quality' : 'q';
    const preset = QUALITY_PRESETS[qualityText];
    if (preset !== undefined) quality = preset;
    else if (/^\d{1,3}$/.test(qualityText) && Number(qualityText) <= 100) quality = Math.max(1, Number(qualityText));
    else fail(name, qualityText, 'an integer from 0 to 100, or high, medium, low, lossless');
  }

  let autoquality: ImageTransform['autoquality'];
  const auto = options.get('autoquality');
  if (auto !== undefined) {
    const [method = '', target, min, max, allowed] = auto.split(':');
    const allowedText = 'method:target:min:max:allowed_error with method dssim, size, none or ml (e.g. dssim:0.002:30:90:0 or size:10kb)';
    if (!(QUALITY_METHODS as readonly string[]).includes(method)) fail('autoquality', auto, allowedText);
    const number = (text: string | undefined, low: number, high: number) => {
      if (text === undefined || text === '') return undefined;
      const value = Number(text);
      return Number.isFinite(value) && value >= low && value <= high ? value : fail('autoquality', auto, allowedText);
    };
    let targetValue: number | undefined;
    if (target) {
      const parsed = qualityTarget(method as QualityMethod, target);
      if ('error' in parsed) fail('autoquality', auto, `${allowedText}; ${parsed.error}`);
      targetValue = 'bytes' in parsed ? parsed.bytes : parsed.d;
    }
    const minQuality = number(min, 1, 100);
    const maxQuality = number(max, 1, 100);
    if (minQuality !== undefined && maxQuality !== undefined && minQuality > maxQuality) fail('autoquality', auto, `${allowedText}, min at most max`);
    autoquality = {
      method: method as QualityMethod,
      ...(targetValue === undefined ? {} : { target: targetValue }),
      ...(minQuality === undefined ? {} : { minQuality }),
      ...(maxQuality === undefined ? {} : { maxQuality }),
      ...(allowed === undefined || allowed === '' ? {} : { allowedError: number(allowed, 0, 1)! }),
    };
    if (method === 'size' && autoquality.target === undefined) fail('autoquality', auto, `${allowedText}; size needs a target`);
  }
  if (quality !== undefined && autoquality !== undefined) fail('autoquality', auto!, 'left out when quality is given');

  let size: ImageTransform['size'];
  const sizeText = options.get('size');
  if (sizeText !== undefined) {
    const match = /^(\d*)(?:x(\d*))?$/.exec(sizeText);
    const width = match?.[1] ? positiveInteger(match[1]) : undefined;
    const height = match?.[2] ? positiveInteger(match[2]) : undefined;
    if (!match || (width === undefined && height === undefined) || (match[1] && width === undefined) || (match[2] && height === undefined)) {
      fail('size', sizeText, 'WIDTHxHEIGHT, WIDTH or xHEIGHT in pixels (a bounding box, the aspect ratio kept)');
    }
    size = { ...(width ? { width } : {}), ...(height ? { height } : {}) };
  }

  let dpr = 1;
  const dprText = options.get('dpr');
  if (dprText !== undefined) {
    const value = Number(dprText);
    if (!/^\d+(\.\d+)?$/.test(dprText) || value < 1 || value > 10) fail('dpr', dprText, 'a number from 1 to 10');
    dpr = value;
  } else if (size) {
    // The browser's own hint is never an error (unreadable, it is ignored), and being unsigned it is held to a few
    // steps: a signed URL must not be made again for every float a client cares to send.
    const hinted = clientDpr(headers);
    if (hinted !== undefined) {
      dpr = dprStep(hinted);
      vary.push('Sec-CH-DPR');
    }
  }

  let algorithm: ImageTransform['algorithm'] = 'auto';
  const algorithmText = options.get('resize_algorithm');
  if (algorithmText !== undefined) {
    if (!(ALGORITHMS as readonly string[]).includes(algorithmText)) fail('resize_algorithm', algorithmText, `one of ${ALGORITHMS.join(', ')}`);
    algorithm = algorithmText as (typeof ALGORITHMS)[number];
  }

  let crop: ImageTransform['crop'];
  const cropText = options.get('crop');
  if (cropText !== undefined) {
    const [w, h, extra] = cropText.split(',');
    const width = w ? positiveInteger(w) : undefined;
    const height = h ? positiveInteger(h) : undefined;
    if (width === undefined || height === undefined || extra !== undefined) fail('crop', cropText, 'WIDTH,HEIGHT in pixels (a centred rectangle)');
    crop = { width, height };
  }

  const transform: ImageTransform = {
    ...(format === undefined ? {} : { format }),
    ...(quality === undefined ? {} : { quality }),
    ...(autoquality === undefined ? {} : { autoquality }),
    ...(size === undefined ? {} : { size }),
    dpr,
    algorithm,
    ...(crop === undefined ? {} : { crop }),
  };
  return {
    transform,
    originUrl: kept.length > 0 ? `${path}?${kept.join('&')}` : path,
    vary,
    ...(mark ? { mark } : {}),
  };
}

/** The size an original's header gives (before EXIF orientation), as the store's record keeps it. */
export interface HeaderSize {
  readonly width: number;
  readonly height: number;
}

/**
 * The store slot of what `options` make of an original of `size`: the effective transform (what is cut, the size
 * it comes out at and the kernel, the format and quality asked for), not the words of the URL, so that option
 * sets that make the same pixels (`size=160&dpr=2` and `size=320`, `size=2000` and none on a smaller image) share
 * one transform and one variant. The header's size is before EXIF orientation, which may turn the image: the
 * slot names the plan for either way up, so two option sets share only when they agree however it is turned.
 */
export function transformSlot(options: Pick<ImageOptions, 'transform' | 'encoding'>, size: HeaderSize | undefined): string {
  const { transform, encoding } = options;
  const encodes = { format: transform.format, refuse: transform.refuse, quality: transform.quality, autoquality: transform.autoquality, encoding };
  if (!size) return `transform:${JSON.stringify({ transform, encoding })}`;
  const upright = reshapePlan(transform, size.width, size.height);
  const turned = size.width === size.height ? upright : reshapePlan(transform, size.height, size.width);
  return `transform:${JSON.stringify({ upright, turned, ...encodes })}`;
}
