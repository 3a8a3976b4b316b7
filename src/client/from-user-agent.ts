import UAParser from 'ua-parser-js';
import { type Capabilities, type Capability, NO_CAPABILITIES } from './capabilities.js';
import { BROWSER_SUPPORT, DESKTOP_SAFARI_OS, ENGINE_SUPPORT, IOS_SINCE, type Version } from './support-table.js';

/** Crawlers get no capabilities (SPEC §2): they are served the plainest variant, like curl. */
const BOT = /bot|crawler|spider|slurp|crawling|facebookexternalhit|preview/i;

function versionOf(text: string | undefined): Version | undefined {
  const match = /^(\d+)(?:[._](\d+))?/.exec(text ?? '');
  return match ? [Number(match[1]), Number(match[2] ?? 0)] : undefined;
}

function atLeast(version: Version | undefined, since: Version | null): boolean {
  if (!version || !since) return false;
  return version[0] > since[0] || (version[0] === since[0] && version[1] >= since[1]);
}

function fromSince(version: Version | undefined, since: Readonly<Record<Capability, Version | null>>): Capabilities {
  return { webp: atLeast(version, since.webp), avif: atLeast(version, since.avif), zorro: atLeast(version, since.zorro) };
}

/** Visitors share a few hundred User-Agent strings; parsing one costs more than the rest of a request's routing. */
const REMEMBERED = new Map<string, Capabilities>();
const REMEMBER_AT_MOST = 2000;

/** SPEC §2: capabilities from the `User-Agent` alone; unknown or missing → none. */
export function capabilitiesFromUserAgent(userAgent: string | undefined): Capabilities {
  if (!userAgent) return NO_CAPABILITIES;
  let capabilities = REMEMBERED.get(userAgent);
  if (!capabilities) {
    capabilities = Object.freeze(parseCapabilities(userAgent));
    if (REMEMBERED.size >= REMEMBER_AT_MOST) REMEMBERED.clear();
    REMEMBERED.set(userAgent, capabilities);
  }
  return capabilities;
}

function parseCapabilities(userAgent: string): Capabilities {
  if (BOT.test(userAgent)) return NO_CAPABILITIES;
  const { browser, engine, os } = new UAParser(userAgent).getResult();
  if (!browser.name) return NO_CAPABILITIES;

  if (os.name === 'iOS') return fromSince(versionOf(os.version), IOS_SINCE);

  // The pre-Chrome Android browser reports WebKit's "Version/4.0" whatever the system: the system decides.
  const version = versionOf(browser.name === 'Android Browser' ? os.version : browser.version);
  if (browser.name === 'Safari' && os.name === 'Mac OS') {
    const macos = versionOf(os.version);
    const byRow = fromSince(version, BROWSER_SUPPORT.find((row) => row.browsers.includes('Safari'))!.since);
    return {
      webp: byRow.webp || (atLeast(version, DESKTOP_SAFARI_OS.webp.safari) && atLeast(macos, DESKTOP_SAFARI_OS.webp.macos)),
      avif: byRow.avif || (atLeast(version, DESKTOP_SAFARI_OS.avif.safari) && atLeast(macos, DESKTOP_SAFARI_OS.avif.macos)),
      zorro: byRow.zorro,
    };
  }
  const row = BROWSER_SUPPORT.find((candidate) => candidate.browsers.includes(browser.name!));
  if (row) return fromSince(version, row.since);
  const byEngine = engine.name ? ENGINE_SUPPORT[engine.name] : undefined;
  if (byEngine) return fromSince(versionOf(engine.version), byEngine);
  return NO_CAPABILITIES;
}
