import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { type Config, defaultImageCompression, type ImageCompressionConfig, type ListenConfig, readTlsIdentity, type TlsIdentity } from './config/index.js';
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
import { adminHostRule, createAdminServer } from './http/admin-server.js';
import { createPublicServer, type PublicServer } from './http/public-server.js';
import { imagesByState } from './observability/image-status.js';
import { statusFromMetrics } from './observability/status.js';
import { SavingsRecorder } from './observability/savings-recorder.js';
import { createDocumentRewriting, PASS_THROUGH } from './http/document-rewriting.js';
import type { Logger } from './observability/log.js';
import { sampleEventLoopDelay } from './observability/loop-delay.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createOriginProxy } from './proxy/origin-proxy.js';
import { reportStoreEvents } from './store/store-reporter.js';
import { MemoryBudget } from './http/memory-budget.js';

export interface RunningSlimproxy {
  /** Where the first public listener answers (with the port actually bound). */
  readonly url: URL;
  /** Where each public listener answers, in config order (`https:` for those with a certificate). */
  readonly urls: readonly URL[];
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
  // One public server per `<listen>`: each its own trusted proxies, idle timeout and (HTTPS) certificate.
  const listeners: Listener[] = [];
  try {
    for (const listen of config.listeners) {
      // Read again at start (the config load checked them; the files may have changed since).
      const identity = listen.tls ? listenerIdentity(listen.tls) : undefined;
      const publicServer = createPublicServer({ originProxy, documents, images: () => imageSide?.parts()?.route, imageApi: config.imageApi.enabled && config.imageApi, compressing: compression !== null, scaling: config.imageScaling !== null, logger, metrics, trustedProxies: listen.trustedProxies, idleTimeoutMs: listen.idleTimeoutMs, ...(identity ? { tls: identity } : {}) });
      const { server } = publicServer;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listen.port, listen.address, () => {
          server.off('error', reject);
          resolve();
        });
      }).catch((err: Error) => {
        throw new Error(`listener on ${listen.address}:${listen.port}: ${err.message}`);
      });
      server.on('error', (err: Error) => logger.error({ error: err.message }, 'public listener error'));
      listeners.push({ config: listen, publicServer, url: listenerUrl(server.address() as AddressInfo, listen.tls !== null) });
    }
  } catch (err) {
    for (const { publicServer } of listeners) publicServer.server.close();
    originProxy.close();
    await imageSide?.close();
    await embedded?.close();
    throw err;
  }
  // `kill -HUP`: certificates renewed on disk (certbot, an ACME client) are taken without a restart. Handled
  // whatever the listeners: HUP means "reload" to an operator, and Node's default for it ends the process.
  const reloadCertificates = () => reloadListenerCertificates(listeners, logger);
  process.on('SIGHUP', reloadCertificates);
  let admin: Server | undefined;
  if (config.admin.enabled) {
    const images = imageSide
      ? () => {
          const parts = imageSide.parts();
          return parts ? imagesByState(parts.store, parts.settings) : undefined;
        }
      : undefined;
    const experimentsIdle = imageSide ? () => imageSide.parts()?.queue.idle() ?? Promise.resolve() : undefined;
    admin = createAdminServer(metrics, statusFromMetrics(metrics, images, () => imageSide?.parts()?.savings.view()), () => imageSide?.parts()?.store, experimentsIdle, adminHostRule(config.admin.hosts));
    const adminServer = admin;
    await new Promise<void>((resolve, reject) => {
      adminServer.once('error', reject);
      adminServer.listen(config.admin.port, config.admin.address, () => resolve());
    }).catch(async (err: Error) => {
      for (const { publicServer } of listeners) publicServer.server.close();
      originProxy.close();
      await imageSide?.close();
      await embedded?.close();
      throw new Error(`admin listener on ${config.admin.address}:${config.admin.port}: ${err.message}`);
    });
    // Sampled while there is a listener to read it.
    adminServer.once('close', sampleEventLoopDelay(metrics.eventLoopDelay));
  }
  const adminAddress = admin?.address() as AddressInfo | undefined;
  const adminUrl = adminAddress ? new URL(`http://${adminAddress.family === 'IPv6' ? `[${adminAddress.address}]` : adminAddress.address}:${adminAddress.port}/`) : undefined;

  let stopping: Promise<boolean> | undefined;
  async function stop(graceMs: number): Promise<boolean> {
    process.off('SIGHUP', reloadCertificates);
    const publicServers = listeners.map((listener) => listener.publicServer);
    for (const publicServer of publicServers) publicServer.startDraining();
    const closed = Promise.all(publicServers.map((publicServer) => new Promise<void>((resolve) => publicServer.server.close(() => resolve()))));
    // Keep-alive connections that finish their response while we drain are closed at once.
    const closeIdle = setInterval(() => {
      for (const publicServer of publicServers) publicServer.closeIdle();
    }, 50);
    let timer: NodeJS.Timeout | undefined;
    const finishedInTime = await Promise.race([
      closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    clearInterval(closeIdle);
    for (const publicServer of publicServers) {
      if (!finishedInTime) publicServer.closeAll();
      for (const socket of publicServer.upgradedSockets) socket.destroy();
    }
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
    url: listeners[0]!.url,
    urls: listeners.map((listener) => listener.url),
    origin: originUrl,
    metrics,
    adminUrl,
    experimentsIdle: () => imageSide?.parts()?.queue.idle() ?? Promise.resolve(),
    stop: (graceMs) => (stopping ??= stop(graceMs)),
  };
}

interface Listener {
  readonly config: ListenConfig;
  readonly publicServer: PublicServer;
  readonly url: URL;
}

function listenerUrl(address: AddressInfo, tls: boolean): URL {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return new URL(`${tls ? 'https' : 'http'}://${host}:${address.port}/`);
}

/** A listener's certificate and key, read and checked now (its errors name the attribute). */
function listenerIdentity(tls: NonNullable<ListenConfig['tls']>): TlsIdentity {
  return readTlsIdentity(tls, (attribute, message) => new Error(`<listen ${attribute}>: ${message}`));
}

/** New certificates for new connections; a listener whose files are now bad keeps the one it has, and says so. */
function reloadListenerCertificates(listeners: readonly Listener[], logger: Logger): void {
  if (listeners.every((listener) => listener.config.tls === null)) {
    logger.info('SIGHUP: no listener has a certificate, nothing to reload (the config file is read at start only)');
    return;
  }
  for (const { config, publicServer, url } of listeners) {
    if (config.tls === null) continue;
    try {
      publicServer.setIdentity(listenerIdentity(config.tls));
      logger.info({ listener: url.href, cert: config.tls.certPath }, 'TLS certificate reloaded: new connections get it');
    } catch (err) {
      logger.error({ listener: url.href, error: (err as Error).message }, 'TLS certificate not reloaded: the listener keeps the one it had');
    }
  }
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
  // The savings history lives in the store: it starts (from what the store kept) when the store opens.
  const savings = new SavingsRecorder(metrics, store);
  savings.start();
  let link: RedisLink | undefined;
  if (config.cluster) {
    metrics.registry.registerMetric(metrics.clusterConnected);
    metrics.clusterConnected.set(0);
    link = new RedisLink(config.cluster.redis, config.cluster.instance, logger, (connected) => metrics.clusterConnected.set(connected ? 1 : 0));
  }
  // This process decodes what it probes and transforms once (experiments have processes of their own): libvips'
  // operation cache would hold up to 50 MB of results nobody asks for again.
  sharp.cache(false);
  // A process is let grow past max-experiment-memory by half (libvips' and the allocator's own) before it is replaced.
  const pool = new ExperimentPool(config.limits.maxImageProcesses, (experiment, seconds) => metrics.experimentCpu.inc({ experiment }, seconds), { maxTaskMs: config.limits.maxExperimentMs, maxRssBytes: 1.5 * config.limits.maxExperimentBytes });
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
    maxTransformsWaiting: config.imageApi.maxQueue,
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
    savings,
    async close() {
      queue.close();
      await pool.close();
      await queue.idle();
      link?.close();
      fetcher.close();
      fallback?.close();
      // The last minute's bytes, written while the store is still open.
      await savings.stop();
      await store.close();
    },
  };
}

/** A path on the origin keeps the origin URL's path prefix, as every proxied request does. */
function fallbackUrl(configured: string, originUrl: URL): URL {
  if (!configured.startsWith('/')) return new URL(configured);
  return new URL(originUrl.pathname.replace(/\/$/, '') + configured, originUrl);
}
