import type { IncomingHttpHeaders } from 'node:http';
import UAParser from 'ua-parser-js';

/**
 * `<image-scaling/>`: the width (device pixels) a client's images are scaled down to. Widths come in classes, so
 * that a few variants serve everyone: the viewport × DPR from client hints when the browser sends them, else a
 * class by device type from the User-Agent. Desktops (and anything unknown) get no scaling: their windows vary too
 * much for a guess to be safe.
 */
export const WIDTH_CLASSES = [320, 480, 640, 768, 960, 1080, 1280, 1440, 1920] as const;

/** A phone by its User-Agent: about 430 CSS px at up to 3 DPR. */
const PHONE_WIDTH = 1280;

/** Request headers the class depends on (for `Vary`). */
export const VIEWPORT_HEADERS = ['User-Agent', 'Sec-CH-Viewport-Width', 'Sec-CH-DPR'] as const;

export interface ViewportClass {
  /** The widest an image needs to be for this client; `undefined`: no scaling. */
  readonly width: number | undefined;
  readonly from: 'client hints' | 'user-agent' | 'none';
}

const firstNumber = (value: string | string[] | undefined) => {
  const text = (Array.isArray(value) ? value[0] : value)?.trim() ?? '';
  const number = Number(text);
  return text !== '' && Number.isFinite(number) && number > 0 ? number : undefined;
};

/** The device pixel ratio the browser hints (`Sec-CH-DPR`), if it sends a positive number. */
export function clientDpr(headers: IncomingHttpHeaders): number | undefined {
  return firstNumber(headers['sec-ch-dpr']);
}

/**
 * The ratios a hinted DPR counts as. A hint is not signed and may be any float: each distinct one would be a
 * transform and a stored variant of its own (2.00001, 2.00002, …), so it is held to these few. Screens sit near
 * them (1, 1.25, 1.5, 1.75, 2, 2.625, 3, 3.5); beyond 3 the eye no longer tells the extra pixels.
 */
export const DPR_STEPS = [1, 1.5, 2, 2.5, 3] as const;

/** The nearest of DPR_STEPS (halfway goes up): below the first it counts as the first, beyond the last as the last. */
export function dprStep(dpr: number): number {
  return DPR_STEPS.reduce<number>((nearest, step) => (Math.abs(step - dpr) <= Math.abs(nearest - dpr) ? step : nearest), DPR_STEPS[0]);
}

/** The smallest class at least `pixels` wide; `undefined` when wider than every class. */
function classFor(pixels: number): number | undefined {
  return WIDTH_CLASSES.find((width) => width >= pixels);
}

const REMEMBERED = new Map<string, string | undefined>();

function deviceType(userAgent: string): string | undefined {
  if (!REMEMBERED.has(userAgent)) {
    if (REMEMBERED.size > 2000) REMEMBERED.clear();
    REMEMBERED.set(userAgent, new UAParser(userAgent).getDevice().type);
  }
  return REMEMBERED.get(userAgent);
}

export function viewportClass(headers: IncomingHttpHeaders): ViewportClass {
  const viewport = firstNumber(headers['sec-ch-viewport-width']) ?? firstNumber(headers['viewport-width']);
  if (viewport !== undefined) {
    const dpr = Math.min(clientDpr(headers) ?? firstNumber(headers.dpr) ?? 1, 10);
    return { width: classFor(viewport * dpr), from: 'client hints' };
  }
  const userAgent = headers['user-agent'];
  if (userAgent && deviceType(userAgent) === 'mobile') return { width: PHONE_WIDTH, from: 'user-agent' };
  return { width: undefined, from: 'none' };
}
