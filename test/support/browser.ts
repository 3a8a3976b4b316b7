import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (installed by .ci/run), never a browser downloaded by a test tool. */
export const CHROMIUM = process.env.SLIMPROXY_CHROMIUM ?? '/usr/bin/chromium';

export interface LaunchOptions {
  /**
   * Show the first frame of animated images only, so that two screenshots of a page compare pixels, not the
   * moment each animation had reached.
   */
  readonly stillImages?: boolean;
  /** More command-line flags (e.g. `--disable-http2`). */
  readonly args?: readonly string[];
}

/**
 * Headless Chromium with the flags this workplace needs: no sandbox (root), no GPU, and nothing that reaches out
 * to the network on its own (the machine has none beyond loopback). Playwright gives it a fresh profile.
 */
export function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Blink's ImageAnimationPolicy: 2 = no animation.
      ...(options.stillImages ? ['--blink-settings=imageAnimationPolicy=2'] : []),
      ...(options.args ?? []),
    ],
  });
}
