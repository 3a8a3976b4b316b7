import type { Capability } from './capabilities.js';

/**
 * First versions that display each capability, one row per browser (ua-parser-js 1.x names). Sources: MDN
 * browser-compat-data (api/HTMLImageElement + image formats, 2026), caniuse.com "webp", "avif", "svg-img".
 *
 * A version is [major, minor]. `null`: never (as far as we offer it).
 */
export type Version = readonly [number, number];

interface BrowserRow {
  readonly browsers: readonly string[];
  readonly since: Readonly<Record<Capability, Version | null>>;
}

export const BROWSER_SUPPORT: readonly BrowserRow[] = [
  // Chrome 32 WebP (caniuse webp), Chrome 85 AVIF (Chrome Platform Status 4905307790639104).
  { browsers: ['Chrome', 'Chromium', 'Chrome Headless', 'Chrome WebView', 'Mobile Chrome'], since: { webp: [32, 0], avif: [85, 0], zorro: [4, 0] } },
  // EdgeHTML 18 WebP; Chromium Edge had AVIF switched off until 121 (MDN: edge 121).
  { browsers: ['Edge'], since: { webp: [18, 0], avif: [121, 0], zorro: [12, 0] } },
  // Firefox 65 WebP, 93 AVIF (MDN release notes).
  { browsers: ['Firefox', 'Mobile Firefox', 'Firefox Focus', 'Waterfox', 'IceCat'], since: { webp: [65, 0], avif: [93, 0], zorro: [4, 0] } },
  // Opera 19 WebP (first Blink Opera with it), 71 AVIF (Chromium 85).
  { browsers: ['Opera', 'Opera Touch', 'Opera GX'], since: { webp: [19, 0], avif: [71, 0], zorro: [12, 0] } },
  // Samsung Internet 4 WebP, 14 AVIF (caniuse).
  { browsers: ['Samsung Browser'], since: { webp: [4, 0], avif: [14, 0], zorro: [4, 0] } },
  // Desktop Safari 14 WebP needs macOS 11 and AVIF needs macOS 13, but Safari's UA freezes macOS at 10_15_7:
  // only versions that no longer run on the older systems are safe (Safari 16 needs macOS 11; 18 needs macOS 13).
  // See DESKTOP_SAFARI_OS for the cases where the UA does show the system.
  { browsers: ['Safari'], since: { webp: [16, 0], avif: [18, 0], zorro: [4, 0] } },
  // IE never had WebP/AVIF; SVG masks in <img> work from IE 10 (IE 9's SVG images ignore masks).
  { browsers: ['IE', 'IEMobile'], since: { webp: null, avif: null, zorro: [10, 0] } },
  // The pre-Chrome Android browser, by Android version: SVG in <img> from 3, WebP with alpha from 4.2.1.
  { browsers: ['Android Browser'], since: { webp: [4, 2], avif: null, zorro: [3, 0] } },
  // Opera Mini renders on a server and mangles SVG masks; WebP it transcodes itself.
  { browsers: ['Opera Mini'], since: { webp: null, avif: null, zorro: null } },
];

/** Desktop Safari when the UA does show the system (older Safari, other macOS browsers' UAs): by macOS version. */
export const DESKTOP_SAFARI_OS = { webp: { safari: [14, 0], macos: [11, 0] }, avif: { safari: [16, 4], macos: [13, 0] } } as const;

/** On iOS every browser is WebKit with the system's image decoders: the iOS version decides (WebP 14, AVIF 16.4). */
export const IOS_SINCE: Readonly<Record<Capability, Version>> = { webp: [14, 0], avif: [16, 4], zorro: [4, 0] };

/**
 * Browsers not in the table, by engine (Vivaldi, Brave, Yandex, UC … report Blink with the Chromium version;
 * Gecko forks report rv:).
 */
export const ENGINE_SUPPORT: Readonly<Record<string, Readonly<Record<Capability, Version | null>>>> = {
  Blink: { webp: [32, 0], avif: [85, 0], zorro: [28, 0] },
  Gecko: { webp: [65, 0], avif: [93, 0], zorro: [4, 0] },
};
