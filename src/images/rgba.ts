import sharp from 'sharp';

/** Decoded pixels, 8-bit sRGB with alpha, row by row. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/**
 * SPEC §9 step 1: decode as every comparison must: EXIF orientation applied, colour profile converted to sRGB,
 * 8-bit RGBA.
 */
export async function decodeRgba(input: Buffer | Uint8Array, options: { animated?: boolean } = {}): Promise<RgbaImage> {
  const { data, info } = await sharp(input, { failOn: 'error', animated: options.animated === true })
    .rotate()
    .toColourspace('srgb')
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

export function hasTransparency(image: RgbaImage): boolean {
  const { data } = image;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 255) return true;
  return false;
}
