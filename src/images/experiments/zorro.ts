import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import type { Experiment } from '../experiment.js';
import type { Original } from '../original.js';
import { lossyVariant } from '../quality-search.js';
import { decodeRgba } from '../rgba.js';

/** How far the colour is spread under transparent pixels (px): wide enough to leave JPEG no hard edge there. */
const FILL_SIGMA = 12;

/**
 * The colour layer: the original's colours, with what lies under fully transparent pixels replaced by the
 * surrounding colour (SPEC §6), so the JPEG spends nothing on edges nobody sees. Premultiplied blur, divided
 * back by the blurred alpha: a weighted average of the visible neighbourhood.
 */
async function colourLayer(original: Original): Promise<Buffer> {
  const { width, height, data } = original.pixels;
  const premultiplied = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i += 4) {
    const alpha = data[i + 3]!;
    for (let c = 0; c < 3; c += 1) premultiplied[i + c] = Math.round((data[i + c]! * alpha) / 255);
    premultiplied[i + 3] = alpha;
  }
  const blurred = await sharp(premultiplied, { raw: { width, height, channels: 4 } }).blur(FILL_SIGMA).raw().toBuffer();
  const colour = Buffer.alloc(width * height * 3);
  for (let p = 0, i = 0; i < data.length; p += 3, i += 4) {
    const alpha = data[i + 3]!;
    const spread = blurred[i + 3]!;
    for (let c = 0; c < 3; c += 1) {
      colour[p + c] = alpha > 0 ? data[i + c]! : spread > 0 ? Math.min(255, Math.round((blurred[i + c]! * 255) / spread)) : 128;
    }
  }
  return colour;
}

function alphaMask(original: Original): Promise<Buffer> {
  const { width, height, data } = original.pixels;
  const alpha = Buffer.alloc(width * height);
  for (let p = 0; p < alpha.length; p += 1) alpha[p] = data[p * 4 + 3]!;
  return sharp(alpha, { raw: { width, height, channels: 1 } }).png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer();
}

/**
 * An SVG of the original's size drawing the colour JPEG through a luminance mask that holds the alpha as a
 * greyscale PNG: exact alpha at JPEG's size for the colour. Both inlined (an SVG used as an image loads nothing
 * external). `color-interpolation="sRGB"` keeps the mask's grey levels as they are.
 */
export function zorroSvg(width: number, height: number, jpeg: Buffer, mask: Buffer): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
      `<defs><mask id="a" maskUnits="userSpaceOnUse" x="0" y="0" width="${width}" height="${height}" color-interpolation="sRGB">` +
      `<image width="${width}" height="${height}" xlink:href="data:image/png;base64,${mask.toString('base64')}"/></mask></defs>` +
      `<image width="${width}" height="${height}" mask="url(#a)" xlink:href="data:image/jpeg;base64,${jpeg.toString('base64')}"/></svg>`,
  );
}

/** ZorroSVG (SPEC §6): for transparent images, to clients that have no WebP or AVIF. */
export const zorro: Experiment = {
  name: 'zorro',
  async run(original, settings) {
    if (!original.transparent) return { ok: false, reason: 'no transparency', encodes: 0, ms: 0 };
    if (original.facts.frames > 1) return { ok: false, reason: 'animated', encodes: 0, ms: 0 };
    const startedAt = performance.now();
    const { width, height } = original.pixels;
    const [colour, mask] = await Promise.all([colourLayer(original), alphaMask(original)]);
    const outcome = await lossyVariant(settings, {
      experiment: 'zorro',
      format: 'svg',
      encode: async (quality) => {
        const jpeg = await sharp(colour, { raw: { width, height, channels: 3 } }).jpeg({ quality, mozjpeg: true }).toBuffer();
        return zorroSvg(width, height, jpeg, mask);
      },
      // Measured as browsers show it: the SVG rendered, compared over black and over white (SPEC §9 step 2).
      measure: async (svg, above) => original.reference.compare(await decodeRgba(svg), above),
      search: true,
      startedAt,
    });
    if (!outcome.ok) return outcome;
    return { ...outcome, variant: { ...outcome.variant, transfer: { encoding: 'gzip', bytes: gzipSync(outcome.variant.bytes, { level: 9 }) } } };
  },
};
