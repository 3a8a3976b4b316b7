import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { type Config, defaultImageCompression, type ImageCompressionConfig } from './config/index.js';
import { createImageRoute } from './http/image-route.js';
import { ExperimentPool } from './images/experiment-pool.js';
import { engineSettings, settingsDigest } from './images/settings.js';
import { ExperimentQueue } from './optimizer/experiment-queue.js';
import { OriginFetcher } from './proxy/origin-fetch.js';
import { ImageStore } from './store/image-store.js';
import { StoreUnavailableError } from './store/store-failure.js';
import { FallbackImage } from './http/fallback-image.js';
import { RedisLink } from './cluster/redis-link.js';
import { SharedImages } from './cluster/shared-images.js';
import { startStaticOrigin, type StaticOrigin } from './embedded/static-origin.js';
import { createAdminServer } from './http/admin-server.js';
import { createPublicServer } from './http/public-server.js';
import { imagesByState } from './observability/image-status.js';
import { statusFromMetrics } from './observability/status.js';
import { createDocumentRewriting, PASS_THROUGH } from './http/document-rewriting.js';
import type { Logger } from './observability/log.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createOriginProxy } from './proxy/origin-proxy.js';
import { reportStoreEvents } from './store/store-reporter.js';
import { MemoryBudget } from './http/memory-budget.js';

export interface RunningSlimproxy {
  /** Where the public listener answers (with the port actually bound). */
  readonly url: URL;
  /** Where requests go: the configured origin, or the embedded demo site's loopback address. */
  readonly origin: URL;
  readonly metrics: Metrics;
  /** The admin listener (metrics, status), unless switched off. */
  readonly adminUrl: URL | undefined;
  /** Resolves when no experiment is queued or running (tests, benchmarks). */
  experimentsIdle(): Promise<void>;
  /**
   * Stops accepting, lets in-flight responses finish for at most `graceMs`, then cuts what is left and releases
   * everything. Resolves `true` if everything finished within the grace period.
   */
  stop(graceMs: number): Promise<boolean>;
}

/** Builds the parts from a config and starts listening. */
export async function startSlimproxy(config: Config, logger: Logger): Promise<RunningSlimproxy> {
  for (const warning of config.warnings) logger.warn({ config: config.source }, warning);
  let embedded: StaticOrigin | undefined;
  if (config.origin.target.kind === 'embedded') embedded = await startStaticOrigin();
  const originUrl = embedded?.url ?? (config.origin.target.kind === 'url' ? config.origin.target.url : undefined);
  if (!originUrl) throw new Error('no origin');

  const metrics = createMetrics();
  const originProxy = createOriginProxy(originUrl, config.origin, (bytes) => metrics.originBytes.inc(bytes));
  // Marks only make sense when something serves marked images: compression (or, later, scaling) is on.
  const compression = config.imageCompression;
  const documents =
    compression || config.imageScaling
      ? createDocumentRewriting({ rewrite: config.rewrite, formats: compression?.formats ?? ['webp', 'avif'], fallbackHost: originUrl.host, clientHints: config.imageScaling !== null, metrics })
      : PASS_THROUGH;
  // The image API and scaling need the image side too, with the default settings when compression itself is off.
  const imageSettings = compression ?? (config.imageApi.enabled || config.imageScaling ? defaultImageCompression() : null);
  const imageSide = imageSettings ? openImageSide(() => startImageParts(config, imageSettings, originUrl, logger, metrics), config.store.path, logger, metrics) : undefined;
  const publicServer = createPublicServer({ originProxy, documents, images: () => imageSide?.parts()?.route, imageApi: config.imageApi.enabled, compressing: compression !== null, scaling: config.imageScaling !== null, logger, metrics, trustedProxies: config.listeners[0]!.trustedProxies, idleTimeoutMs: config.listeners[0]!.idleTimeoutMs });
  const { server } = publicServer;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listeners[0]!.port, config.listeners[0]!.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    originProxy.close();
    await imageSide?.close();
    await embedded?.close();
    throw err;
  }
  server.on('error', (err) => logger.error({ error: err.message }, 'public listener error'));
  let admin: Server | undefined;
  if (config.admin.enabled) {
    const images = imageSide
      ? () => {
          const parts = imageSide.parts();
          return parts ? imagesByState(parts.store, parts.settings) : undefined;
        }
      : undefined;
    const experimentsIdle = imageSide ? () => imageSide.parts()?.queue.idle() ?? Promise.resolve() : undefined;
    admin = createAdminServer(metrics, statusFromMetrics(metrics, images), () => imageSide?.parts()?.store, experimentsIdle);
    const adminServer = admin;
    await new Promise<void>((resolve, reject) => {
      adminServer.once('error', reject);
      adminServer.listen(config.admin.port, config.admin.address, () => resolve());
    }).catch(async (err: Error) => {
      server.close();
      originProxy.close();
      await imageSide?.close();
      await embedded?.close();
      throw new Error(`admin listener on ${config.admin.address}:${config.admin.port}: ${err.message}`);
    });
  }
  const adminAddress = admin?.address() as AddressInfo | undefined;
  const adminUrl = adminAddress ? new URL(`http://${adminAddress.family === 'IPv6' ? `[${adminAddress.address}]` : adminAddress.address}:${adminAddress.port}/`) : undefined;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = new URL(`http://${host}:${address.port}/`);

  let stopping: Promise<boolean> | undefined;
  async function stop(graceMs: number): Promise<boolean> {
    publicServer.startDraining();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Keep-alive connections that finish their response while we drain are closed at once.
    const closeIdle = setInterval(() => server.closeIdleConnections(), 50);
    let timer: NodeJS.Timeout | undefined;
    const finishedInTime = await Promise.race([
      closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    clearInterval(closeIdle);
    if (!finishedInTime) server.closeAllConnections();
    for (const socket of publicServer.upgradedSockets) socket.destroy();
    if (admin) {
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    }
    originProxy.close();
    await imageSide?.close();
    await embedded?.close();
    return finishedInTime;
  }

  return {
    url,
    origin: originUrl,
    metrics,
    adminUrl,
    experimentsIdle: () => imageSide?.parts()?.queue.idle() ?? Promise.resolve(),
    stop: (graceMs) => (stopping ??= stop(graceMs)),
  };
}

type ImageParts = ReturnType<typeof startImageParts>;

/** How often a store that could not be opened is tried again. */
const REOPEN_EVERY_MS = 5000;

/**
 * The image side, once its store opens. A store that cannot be opened (a full disk at start) must not keep the
 * site down: until it opens, pages are served and marked URLs go to the origin unmarked (the visitor gets the
 * origin's images), and opening is tried again every few seconds.
 */
function openImageSide(start: () => ImageParts, path: string, logger: Logger, metrics: Metrics) {
  let parts: ImageParts | undefined;
  let retry: NodeJS.Timeout | undefined;
  let lastLine = -Infinity;
  let failures = 0;
  const attempt = () => {
    retry = undefined;
    try {
      parts = start();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      failures += 1;
      metrics.storeErrors.inc({ reason: err.reason });
      if (Date.now() - lastLine >= 60_000) {
        lastLine = Date.now();
        logger.error({ cause: 'store', reason: err.reason, error: err.message, path }, 'store: cannot open: images go to clients as the origin sends them; opening is retried by itself');
      }
      retry = setTimeout(attempt, REOPEN_EVERY_MS);
      return;
    }
    if (failures > 0) logger.warn({ cause: 'store', path, failedAttempts: failures }, 'store: opened: images are optimised again');
  };
  attempt();
  return {
    parts: () => parts,
    async close() {
      clearTimeout(retry);
      await parts?.close();
    },
  };
}

/** The image side (SPEC §5–§8): store, worker pool, queue, origin fetcher and the marked-image route. */
function startImageParts(config: Config, compression: ImageCompressionConfig, originUrl: URL, logger: Logger, metrics: Metrics) {
  const store = new ImageStore(config.store.path, config.store.maxBytes, { events: reportStoreEvents(logger, metrics) });
  let link: RedisLink | undefined;
  if (config.cluster) {
    metrics.registry.registerMetric(metrics.clusterConnected);
    metrics.clusterConnected.set(0);
    link = new RedisLink(config.cluster.redis, config.cluster.instance, logger, (connected) => metrics.clusterConnected.set(connected ? 1 : 0));
  }
  // This process decodes what it probes and transforms once (experiments have processes of their own): libvips'
  // operation cache would hold up to 50 MB of results nobody asks for again.
  sharp.cache(false);
  const pool = new ExperimentPool(config.limits.maxImageProcesses, (experiment, seconds) => metrics.experimentCpu.inc({ experiment }, seconds));
  const queue = new ExperimentQueue(config.limits.maxImageProcesses, 10_000);
  const fetcher = new OriginFetcher(originUrl, config.origin.timeoutMs, (bytes) => metrics.originBytes.inc(bytes));
  const settings = engineSettings(compression);
  const fallback = config.fallbackImage ? new FallbackImage(fallbackUrl(config.fallbackImage.url, originUrl), config.fallbackImage.maxBytes, config.origin.timeoutMs, logger) : undefined;
  const route = createImageRoute({
    store,
    queue,
    pool,
    fetcher,
    settings,
    limits: { maxPixels: config.limits.maxImageAreaPixels, maxFrames: 1000, maxMemoryBytes: config.limits.maxExperimentBytes },
    intervalSeconds: config.intervalCachingSeconds,
    heuristicMaxAgeSeconds: config.origin.heuristicMaxAgeSeconds,
    hostMode: config.origin.host,
    interimSeconds: compression.interimMaxAge,
    maxOriginalBytes: Math.min(64 * 2 ** 20, Math.floor(config.store.maxBytes / 4), config.limits.maxBufferedBytes),
    budget: new MemoryBudget(config.limits.maxBufferedBytes, (held) => metrics.bufferedBytes.set(held)),
    logger,
    metrics,
    ...(fallback ? { fallback } : {}),
    ...(link && config.cluster ? { shared: new SharedImages(link, { namespace: settingsDigest(settings) }), leaseMs: config.cluster.leaseMs } : {}),
  });
  return {
    route,
    queue,
    store,
    settings,
    async close() {
      queue.close();
      await pool.close();
      await queue.idle();
      link?.close();
      fetcher.close();
      fallback?.close();
      await store.close();
    },
  };
}

/** A path on the origin keeps the origin URL's path prefix, as every proxied request does. */
function fallbackUrl(configured: string, originUrl: URL): URL {
  if (!configured.startsWith('/')) return new URL(configured);
  return new URL(originUrl.pathname.replace(/\/$/, '') + configured, originUrl);
}
