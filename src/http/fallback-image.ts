import { probeImage } from '../images/probe.js';
import type { Logger } from '../observability/log.js';
import { OriginFetcher } from '../proxy/origin-fetch.js';

export interface FallbackBytes {
  readonly bytes: Buffer;
  readonly contentType: string;
}

/** After a failed fetch, the fallback image is not asked for again before this long (the 404s pass meanwhile). */
const RETRY_MS = 60_000;

/**
 * `<fallback-image>`: the image sent in place of an origin's 404 for an image URL. Fetched on first need (not at
 * start: a fallback that is down must not stop the proxy), at most `maxBytes`, checked to be an image, then kept
 * in memory for good. Concurrent first requests share one fetch.
 */
export class FallbackImage {
  private cached: FallbackBytes | undefined;
  private pending: Promise<FallbackBytes | undefined> | undefined;
  private failedAt = -Infinity;
  private readonly fetcher: OriginFetcher;

  constructor(
    private readonly url: URL,
    private readonly maxBytes: number,
    timeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.fetcher = new OriginFetcher(new URL(url.origin), timeoutMs);
  }

  /** The fallback's bytes, or `undefined` when it cannot be had (then the origin's 404 goes through). */
  get(): Promise<FallbackBytes | undefined> {
    if (this.cached) return Promise.resolve(this.cached);
    if (Date.now() - this.failedAt < RETRY_MS) return Promise.resolve(undefined);
    this.pending ??= this.load().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async load(): Promise<FallbackBytes | undefined> {
    const fail = (why: string) => {
      this.failedAt = Date.now();
      this.logger.warn({ url: this.url.href, reason: why }, 'fallback image unavailable: 404s pass through as they are');
      return undefined;
    };
    try {
      const fetched = await this.fetcher.fetch(this.url.pathname + this.url.search, { accept: 'image/*' }, this.maxBytes);
      if (fetched.status !== 200) return fail(`status ${fetched.status}`);
      if (!fetched.body) {
        fetched.stream?.destroy();
        return fail(`larger than max-bytes (${this.maxBytes})`);
      }
      const probe = await probeImage(fetched.body, { maxPixels: 50e6, maxFrames: 1000 });
      if (!probe.ok) return fail(`not a usable image: ${probe.reason}`);
      // Every type the probe knows is image/<type>.
      this.cached = { bytes: fetched.body, contentType: `image/${probe.facts.type}` };
      return this.cached;
    } catch (err) {
      return fail((err as Error).message);
    }
  }

  close(): void {
    this.fetcher.close();
  }
}
