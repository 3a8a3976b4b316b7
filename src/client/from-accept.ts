import type { Capabilities } from './capabilities.js';

/**
 * SPEC §7: for an image requested by an unmarked URL, what the client takes is what its `Accept` header lists
 * (browsers name image/webp and image/avif there when they decode them). ZorroSVG is never inferred from it.
 */
export function capabilitiesFromAccept(accept: string | undefined): Capabilities {
  const types = (accept ?? '')
    .toLowerCase()
    .split(',')
    .map((part) => part.trim().split(';'))
    .filter(([, ...params]) => !params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p)))
    .map(([type]) => type?.trim());
  return { webp: types.includes('image/webp'), avif: types.includes('image/avif'), zorro: false };
}
