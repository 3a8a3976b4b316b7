import type { OriginTarget, QualityFormat, QualityMethod } from './attribute-types.js';
import type { PresetName } from './presets.js';

/** Where to send what is not ours to answer, and how long to wait for it. */
export interface OriginConfig {
  readonly target: OriginTarget;
  /** No response headers (or no body progress) within this time: 504, or the response is aborted. */
  readonly timeoutMs: number;
  /** Which `Host` the origin sees: its own (as in its URL) or the one the client sent. */
  readonly host: 'origin' | 'client';
  /**
   * The most a stored original without an explicit lifetime is used unconfirmed, by RFC 9111 §4.2.2 heuristic
   * freshness (a tenth of its age since `Last-Modified`); 0: confirmed with the origin every time.
   */
  readonly heuristicMaxAgeSeconds: number;
}

export type ModernFormat = 'webp' | 'avif' | 'zorro';

export interface ImageCompressionConfig {
  readonly preset: PresetName;
  /** DSSIM target; `<= 0` means JPEG uses the fixed `quality` instead of searching. */
  readonly d: number;
  readonly quality: number;
  readonly formats: readonly ModernFormat[];
  readonly minQuality: number;
  readonly maxQuality: number;
  readonly losslessPng: boolean;
  /** `all`: the DSSIM search applies to WebP and AVIF too, not only JPEG. */
  readonly aiqa: 'jpeg' | 'all';
  /**
   * How lossy qualities are chosen (imgproxy's autoquality): `dssim` the lowest quality under `d` (FIT's way),
   * `size` the highest quality that fits `targetBytes`, `none` the fixed `quality`, `ml` like `dssim` from a
   * model's predicted quality.
   */
  readonly method: QualityMethod;
  /** `method="size"`: the bytes each image should fit in. */
  readonly targetBytes: number | undefined;
  /** How far from the target a result may stop, as a fraction of it (0: exact; `ml` with 1: the prediction as is). */
  readonly allowedError: number;
  /** Per-format search bounds, overriding min/max quality for that format. */
  readonly formatMin: Readonly<Partial<Record<QualityFormat, number>>>;
  readonly formatMax: Readonly<Partial<Record<QualityFormat, number>>>;
  /** Seconds a response before final may be reused by the browser (0: `no-cache`), SPEC §5.5. */
  readonly interimMaxAge: number;
}

/** One public listener (`<listen>`). */
export interface ListenConfig {
  readonly address: string;
  readonly port: number;
  /** A response whose client takes no byte for this long is dropped (its memory with it). */
  readonly idleTimeoutMs: number;
  /** Proxies whose `X-Forwarded-For` names the client (addresses or CIDR networks); empty: the socket's peer. */
  readonly trustedProxies: readonly string[];
  /**
   * HTTPS with ALPN `h2` and `http/1.1`, from these PEM files (absolute paths; read at start and again on
   * `SIGHUP`); `null`: plain HTTP/1.1.
   */
  readonly tls: { readonly certPath: string; readonly keyPath: string } | null;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** The file the config was read from (for messages). */
  readonly source: string;
  /** Every `<listen>`, in file order: at least one. */
  readonly listeners: readonly ListenConfig[];
  readonly origin: OriginConfig;
  /** `null`: compression is off (element absent, or overridden by `<image-scaling/>`). */
  readonly imageCompression: ImageCompressionConfig | null;
  readonly imageScaling: Readonly<Record<string, never>> | null;
  /**
   * An image sent (with the origin's 404 status) when the origin has no image at a requested image URL;
   * `url` is absolute or a path on the origin.
   */
  readonly fallbackImage: { readonly url: string; readonly maxBytes: number } | null;
  /** Explicit image options on image URLs (`format`, `q`, `size`…); off by default: an origin may use the names. */
  readonly imageApi: {
    readonly enabled: boolean;
    /**
     * imgproxy's signing: an option URL must carry an HMAC-SHA256 under `key` of `salt` and its path and options
     * (both hex); `null`: any option URL is accepted.
     */
    readonly signing: { readonly key: string; readonly salt: string } | null;
    /** Transforms waiting for a worker at most; beyond it the original is sent with `X-Slimproxy-Skip`. */
    readonly maxQueue: number;
  };
  /** Several instances sharing request counts, experiments and results through Redis; `null`: on its own. */
  readonly cluster: {
    readonly redis: string;
    readonly instance: string;
    /** How long an experiment's lease lasts unrenewed: what another instance waits after a crash. */
    readonly leaseMs: number;
  } | null;
  /** HTML and CSS rewriting (SPEC §3, §4): on whenever images are compressed or scaled. */
  readonly rewrite: {
    /** Lazy-loading attributes holding image URLs on `<img>` and `<source>`. */
    readonly lazyAttributes: readonly string[];
    /** Larger documents stream through unrewritten. */
    readonly maxBytes: number;
    /** Memory for rewritten documents kept for revalidation (0: no cache). */
    readonly cacheBytes: number;
    /**
     * What tells shared caches (CDNs, Varnish) that a rewritten document is one browser's: `vary` the
     * `Vary: User-Agent` alone, `private` also `Cache-Control: private`, for caches that ignore `Vary`.
     */
    readonly sharedCaches: 'vary' | 'private';
  };
  readonly intervalCachingSeconds: number;
  readonly store: { readonly path: string; readonly maxBytes: number };
  readonly limits: {
    readonly maxImageAreaPixels: number;
    readonly maxImageProcesses: number;
    /** Bytes of image bodies held in memory at once (fetched originals, stored bodies being sent). */
    readonly maxBufferedBytes: number;
    /** Memory one experiment worker may use for decoded pixels and DSSIM planes. */
    readonly maxExperimentBytes: number;
    /** `<limits max-experiment-time>` in ms: an experiment or transform still running after it is stopped. */
    readonly maxExperimentMs: number;
  };
  readonly admin: {
    readonly enabled: boolean;
    readonly address: string;
    readonly port: number;
    /** Host names answered besides IP addresses, `localhost` and the machine's own name; `['*']`: any. */
    readonly hosts: readonly string[];
  };
  readonly log: { readonly level: LogLevel };
  /** Things worth saying at start that do not stop it. */
  readonly warnings: readonly string[];
}
