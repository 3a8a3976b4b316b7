import { readFileSync } from 'node:fs';
import { decodeRgba, type RgbaImage } from '../../src/images/rgba.js';
import { PROJECT_ROOT } from './proxy.js';

const VECTORS = new URL('fixtures/dssim-vectors/', PROJECT_ROOT);

/** One reference pair of SPEC §9: two image files and the DSSIM the reference tool gives them. */
export interface DssimVector {
  readonly original: string;
  readonly candidate: string;
  readonly dssim: number;
}

export const DSSIM_VECTORS: readonly DssimVector[] = (JSON.parse(readFileSync(new URL('vectors.json', VECTORS), 'utf8')) as { pairs: DssimVector[] }).pairs;

const decoded = new Map<string, Promise<RgbaImage>>();

/** A vector's image by file name, decoded once per test file. */
export function vectorImage(name: string): Promise<RgbaImage> {
  let pending = decoded.get(name);
  if (!pending) {
    pending = decodeRgba(readFileSync(new URL(name, VECTORS)));
    decoded.set(name, pending);
  }
  return pending;
}
