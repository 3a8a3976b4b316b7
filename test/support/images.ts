import sharp from 'sharp';
import { type ClientResponse, fetchRaw } from './client.js';
import type { TestProxy } from './proxy.js';

/**
 * Asks for a marked image until every experiment of its plan has run (each request schedules what is left) and
 * returns the final response (`public`); throws after `rounds`.
 */
export async function untilFinal(proxy: TestProxy, path: string, headers: Record<string, string> = {}, rounds = 12): Promise<ClientResponse> {
  for (let round = 0; round < rounds; round += 1) {
    const response = await fetchRaw(new URL(path, proxy.url), { headers });
    if (String(response.headers['cache-control']).startsWith('public')) return response;
    await proxy.running.experimentsIdle();
  }
  throw new Error(`${path} not final after ${rounds} rounds`);
}

/** A photograph cut out by an ellipse: transparent and lossy-friendly, so ZorroSVG is the smallest for `ic,zorro`. */
export async function cutout(photo: Buffer): Promise<Buffer> {
  const { width = 0, height = 0 } = await sharp(photo).metadata();
  const ellipse = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><ellipse cx="50%" cy="50%" rx="45%" ry="45%"/></svg>`);
  return sharp(photo).ensureAlpha().composite([{ input: ellipse, blend: 'dest-in' }]).png().toBuffer();
}
