import sharp from 'sharp';
import { DssimReference } from '../../src/images/dssim.js';
import { decodeRgba, type RgbaImage } from '../../src/images/rgba.js';
import type { PageView, Region } from './page-view.js';

export interface ElementComparison {
  readonly src: string;
  /** DSSIM of the element's region through the proxy against direct; `undefined` when it has no box. */
  readonly dssim: number | undefined;
}

export interface ViewComparison {
  /** Everything that makes the proxied view differ from the direct one beyond `d`; empty when it passes. */
  readonly problems: readonly string[];
  readonly elements: readonly ElementComparison[];
  /** DSSIM of the whole page. */
  readonly pageDssim: number;
}

function crop(page: RgbaImage, region: Region): RgbaImage {
  const data = new Uint8Array(region.width * region.height * 4);
  for (let y = 0; y < region.height; y += 1) {
    const from = ((region.top + y) * page.width + region.left) * 4;
    data.set(page.data.subarray(from, from + region.width * 4), y * region.width * 4);
  }
  return { width: region.width, height: region.height, data };
}

async function pixels(screenshot: Buffer | undefined): Promise<RgbaImage> {
  if (!screenshot) throw new Error('compareViews needs views taken with screenshots');
  return decodeRgba(await sharp(screenshot).png().toBuffer());
}

/**
 * What a visitor would notice between a page seen directly and through the proxy: images that do not load or
 * load at another natural size, rendered pixels further than `d` (DSSIM, SPEC §9) from direct for any image
 * element or for the whole page, errors that only the proxied view has, images that only the direct view loads.
 */
export async function compareViews(direct: PageView, proxied: PageView, d: number): Promise<ViewComparison> {
  const problems: string[] = [];
  const before = await pixels(direct.screenshot);
  const after = await pixels(proxied.screenshot);
  if (before.width !== after.width || before.height !== after.height) {
    problems.push(`page size ${after.width}×${after.height} through the proxy, ${before.width}×${before.height} direct`);
    return { problems, elements: [], pageDssim: Number.NaN };
  }
  const pageDssim = new DssimReference(before).compare(after);
  if (pageDssim > d) problems.push(`whole page: DSSIM ${pageDssim.toFixed(5)} > ${d}`);

  if (direct.elements.length !== proxied.elements.length) problems.push(`${proxied.elements.length} image elements through the proxy, ${direct.elements.length} direct`);
  const elements: ElementComparison[] = [];
  direct.elements.forEach((element, i) => {
    const other = proxied.elements[i];
    if (!other) return;
    if (other.src !== element.src) problems.push(`element ${i}: src ${other.src} through the proxy, ${element.src} direct`);
    if (other.naturalWidth !== element.naturalWidth || other.naturalHeight !== element.naturalHeight) {
      problems.push(`${element.src}: natural size ${other.naturalWidth}×${other.naturalHeight} through the proxy, ${element.naturalWidth}×${element.naturalHeight} direct`);
    }
    let dssim: number | undefined;
    if (element.region) {
      dssim = new DssimReference(crop(before, element.region)).compare(crop(after, element.region));
      if (dssim > d) problems.push(`${element.src}: DSSIM ${dssim.toFixed(5)} > ${d}`);
    }
    elements.push({ src: element.src, dssim });
  });

  const known = new Set(direct.problems);
  for (const problem of proxied.problems) if (!known.has(problem)) problems.push(`only through the proxy: ${problem}`);
  // Direct and proxied views have different hosts (origin, proxy): images line up by path.
  const pathOf = (url: string) => {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  };
  const loaded = new Set(proxied.images.filter((image) => image.status === 200).map((image) => pathOf(image.url)));
  for (const image of direct.images) {
    if (image.status === 200 && !loaded.has(pathOf(image.url))) problems.push(`${pathOf(image.url)} loads directly but not through the proxy`);
  }
  return { problems, elements, pageDssim };
}
