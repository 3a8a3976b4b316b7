import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { type AttributeType, qualityTarget } from './attribute-types.js';
import type { Config, ImageCompressionConfig, ListenConfig } from './config.js';
import { COMPRESSION_PRESETS, DEFAULT_PRESET } from './presets.js';
import { CONFIG_SCHEMA, ENVIRONMENT_OVERRIDES, type ElementName, type ElementValues, REPEATABLE_ELEMENTS } from './schema.js';
import { readTlsIdentity } from './tls-identity.js';
import { readConfigElements, XmlShapeError } from './xml-elements.js';

/** A config that cannot be used. The message is one line that names where, what, and what is allowed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_CONFIG_PATH = 'conf/config.xml';

/** SPEC §1 defaults for what the file leaves out. */
const DEFAULTS = {
  listen: { address: '0.0.0.0', port: 8000 },
  originTimeoutSeconds: 30,
  // As Varnish's default TTL: a file changed at the origin shows through the proxy within two minutes.
  heuristicMaxAgeSeconds: 120,
  store: { path: 'var/store', maxBytes: 2 ** 30 },
  maxImageAreaMegapixels: 50,
  maxImageProcesses: 2,
  /**
   * Sized for a 2-core, 4 GB machine: 256 MiB of bodies in flight (four of the largest originals kept) next to
   * two experiment workers of 1 GiB each, leaving room for the proxy itself and the page cache.
   */
  maxBufferedBytes: 256 * 2 ** 20,
  maxExperimentBytes: 2 ** 30,
  maxExperimentSeconds: 300,
  /** Transforms of the image API waiting for a worker; beyond it the original is sent (a few seconds of work). */
  imageApiMaxQueue: 64,
  /** As nginx's `send_timeout`: a client that takes no byte for a minute is gone or hostile. */
  idleTimeoutSeconds: 60,
  minQuality: 20,
  maxQuality: 95,
  admin: { address: '127.0.0.1', port: 8001 },
  lazyAttributes: ['data-src', 'data-srcset'],
  rewriteMaxBytes: 20e6,
  rewriteCacheBytes: 64 * 2 ** 20,
  /** `Vary: User-Agent` is what HTTP says; `private` costs every shared cache the pages, so it is asked for. */
  sharedCaches: 'vary',
  /**
   * A minute: a returning visitor picks up a better variant at most a minute after it exists (experiments take
   * seconds each), and until then each of its images costs one conditional request a minute, a `304` while
   * nothing changed. Long enough to spare a page's images a round trip each within one visit's reloads.
   */
  interimMaxAgeSeconds: 60,
} as const;

interface ParsedElement {
  readonly values: Record<string, unknown>;
  /** Where it stands in the file; absent when only the environment set it. */
  readonly line: number | undefined;
  /** Later elements of the same name, for those that may repeat (REPEATABLE_ELEMENTS). */
  readonly more?: ParsedElement[];
}

type ParsedElements = Partial<Record<ElementName, ParsedElement>>;

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let xml: string;
  try {
    xml = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError(`${path}: cannot read the config file: ${reason} (choose one with --config FILE or SLIMPROXY_CONFIG)`);
  }
  return parseConfig(xml, path, env);
}

export function parseConfig(xml: string, source: string, env: NodeJS.ProcessEnv = {}): Config {
  const elements = parseElements(xml, source);
  applyEnvironment(elements, env);
  return buildConfig(elements, source);
}

function isElementName(name: string): name is ElementName {
  return Object.hasOwn(CONFIG_SCHEMA, name);
}

function attributesOf(element: ElementName): Readonly<Record<string, AttributeType<unknown>>> {
  return CONFIG_SCHEMA[element];
}

function listOf(names: readonly string[]): string {
  return names.join(', ');
}

function parseElements(xml: string, source: string): ParsedElements {
  let written;
  try {
    written = readConfigElements(xml);
  } catch (err) {
    if (err instanceof XmlShapeError) throw new ConfigError(`${source}:${err.line}: ${err.message}`);
    throw err;
  }
  const parsed: ParsedElements = {};
  for (const element of written) {
    const where = `${source}:${element.line}`;
    if (!isElementName(element.name)) {
      const allowed = listOf(Object.keys(CONFIG_SCHEMA).map((n) => `<${n}>`));
      throw new ConfigError(`${where}: unknown element <${element.name}>; allowed elements: ${allowed}`);
    }
    const earlier = parsed[element.name];
    if (earlier && !REPEATABLE_ELEMENTS.has(element.name)) {
      throw new ConfigError(`${where}: <${element.name}> appears twice (first on line ${earlier.line}); keep one`);
    }
    const schema = attributesOf(element.name);
    const values: Record<string, unknown> = {};
    for (const [attribute, raw] of element.attributes) {
      const type = schema[attribute];
      if (!type) {
        const names = Object.keys(schema);
        const allowed = names.length === 0 ? 'it takes no attributes' : `allowed attributes: ${listOf(names)}`;
        throw new ConfigError(`${where}: <${element.name}>: unknown attribute "${attribute}"; ${allowed}`);
      }
      values[attribute] = parseValue(type, raw, attribute, `${where}: <${element.name} ${attribute}="${withoutSecrets(raw)}">`);
    }
    if (earlier) (earlier.more as ParsedElement[]).push({ values, line: element.line });
    else parsed[element.name] = { values, line: element.line, more: [] };
  }
  return parsed;
}

/** A config value as error messages repeat it: the password of a URL (`//user:secret@`, or a bare `//secret@`) never reaches a log. */
function withoutSecrets(raw: string): string {
  return raw.replace(/\/\/([^/@]*)@/, (_, userinfo: string) => `//${userinfo.includes(':') ? `${userinfo.slice(0, userinfo.indexOf(':'))}:***` : '***'}@`);
}

function parseValue(type: AttributeType<unknown>, raw: string, attribute: string, where: string): unknown {
  const value = type.parse(raw);
  if (value === undefined) throw new ConfigError(`${where}: ${attribute} must be ${type.allowed}`);
  return value;
}

function applyEnvironment(elements: ParsedElements, env: NodeJS.ProcessEnv): void {
  for (const { variable, element, attribute } of ENVIRONMENT_OVERRIDES) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    const type = attributesOf(element)[attribute];
    if (!type) throw new Error(`schema has no ${element}@${attribute} for ${variable}`);
    const where = `environment ${variable}="${withoutSecrets(raw)}" (sets <${element} ${attribute}>)`;
    const value = parseValue(type, raw, attribute, where);
    const existing = elements[element];
    elements[element] = { values: { ...existing?.values, [attribute]: value }, line: existing?.line, more: existing?.more ?? [] };
  }
}

function valuesOf<E extends ElementName>(elements: ParsedElements, element: E): ElementValues<E> {
  return (elements[element]?.values ?? {}) as ElementValues<E>;
}

function buildConfig(elements: ParsedElements, source: string): Config {
  const warnings: string[] = [];
  const origin = valuesOf(elements, 'origin');
  if (origin.url === undefined) {
    const line = elements.origin?.line;
    const where = line === undefined ? `${source}: <config>` : `${source}:${line}: <origin>`;
    throw new ConfigError(
      `${where}: the origin is missing; add <origin url="http://your-site:port"/> (or url="embedded" for the demo site), or set SLIMPROXY_ORIGIN`,
    );
  }

  let imageCompression = elements['image-compression'] ? buildCompression(elements, source, warnings) : null;
  const imageScaling = elements['image-scaling'] ? {} : null;
  if (imageScaling && imageCompression) {
    warnings.push(
      '<image-scaling/> and <image-compression/> cannot be used together: scaling wins and compression is disabled',
    );
    imageCompression = null;
  }
  const imageApi = buildImageApi(elements, source);
  if (elements['fallback-image'] && !imageCompression && !imageScaling && !imageApi.enabled) {
    warnings.push(
      '<fallback-image> has no effect without <image-compression>, <image-scaling> or <image-api enabled="true">: only the image URLs slimproxy serves get it',
    );
  }

  const store = valuesOf(elements, 'store');
  const limits = valuesOf(elements, 'limits');
  const admin = valuesOf(elements, 'admin');
  const config: Config = {
    source,
    listeners: buildListeners(elements, source),
    origin: {
      target: origin.url,
      timeoutMs: Math.round((origin.timeout ?? DEFAULTS.originTimeoutSeconds) * 1000),
      host: origin.host ?? 'origin',
      heuristicMaxAgeSeconds: origin['heuristic-max-age'] ?? DEFAULTS.heuristicMaxAgeSeconds,
    },
    imageCompression,
    imageScaling,
    fallbackImage: elements['fallback-image'] ? buildFallbackImage(elements, source) : null,
    imageApi,
    cluster: buildCluster(elements, source),
    rewrite: {
      lazyAttributes: valuesOf(elements, 'rewrite')['lazy-attributes'] ?? DEFAULTS.lazyAttributes,
      maxBytes: valuesOf(elements, 'rewrite')['max-size'] ?? DEFAULTS.rewriteMaxBytes,
      cacheBytes: valuesOf(elements, 'rewrite')['cache-size'] ?? DEFAULTS.rewriteCacheBytes,
      sharedCaches: valuesOf(elements, 'rewrite')['shared-caches'] ?? DEFAULTS.sharedCaches,
    },
    intervalCachingSeconds: valuesOf(elements, 'interval-caching').seconds ?? 0,
    store: { path: resolve(store.path ?? DEFAULTS.store.path), maxBytes: store['max-size'] ?? DEFAULTS.store.maxBytes },
    limits: {
      maxImageAreaPixels: Math.round((limits['max-image-area'] ?? DEFAULTS.maxImageAreaMegapixels) * 1e6),
      maxImageProcesses: limits['max-image-processes'] ?? DEFAULTS.maxImageProcesses,
      maxBufferedBytes: limits['max-buffered'] ?? DEFAULTS.maxBufferedBytes,
      maxExperimentBytes: limits['max-experiment-memory'] ?? DEFAULTS.maxExperimentBytes,
      maxExperimentMs: (limits['max-experiment-time'] ?? DEFAULTS.maxExperimentSeconds) * 1000,
    },
    admin: {
      enabled: admin.enabled ?? true,
      address: admin.address ?? DEFAULTS.admin.address,
      port: admin.port ?? DEFAULTS.admin.port,
      hosts: admin.hosts ?? [],
    },
    log: { level: valuesOf(elements, 'log').level ?? 'info' },
    warnings,
  };
  return deepFreeze(config);
}

/** Every `<listen>` in file order (the default one when there is none); the environment's address and port go to the first. */
function buildListeners(elements: ParsedElements, source: string): ListenConfig[] {
  const first = elements.listen;
  const written = first ? [first, ...(first.more ?? [])] : [{ values: {}, line: undefined }];
  const listeners = written.map(({ values, line }) => {
    const listen = values as ElementValues<'listen'>;
    const where = (attribute: string, value: string) => `${source}:${line ?? 0}: <listen ${attribute}="${value}">`;
    const certPath = listen['tls-cert'];
    const keyPath = listen['tls-key'];
    if ((certPath === undefined) !== (keyPath === undefined)) {
      const [given, missing] = certPath === undefined ? ['tls-key', 'tls-cert'] : ['tls-cert', 'tls-key'];
      throw new ConfigError(`${where(given, (certPath ?? keyPath)!)}: ${missing} is missing; HTTPS needs both tls-cert (the certificate chain, PEM) and tls-key (its private key, PEM)`);
    }
    let tls: ListenConfig['tls'] = null;
    if (certPath !== undefined && keyPath !== undefined) {
      const paths = { certPath: resolve(certPath), keyPath: resolve(keyPath) };
      readTlsIdentity(paths, (attribute, message) => new ConfigError(`${where(attribute, attribute === 'tls-cert' ? certPath : keyPath)}: ${message}`));
      tls = paths;
    }
    return {
      address: listen.address ?? DEFAULTS.listen.address,
      port: listen.port ?? DEFAULTS.listen.port,
      idleTimeoutMs: Math.round((listen['idle-timeout'] ?? DEFAULTS.idleTimeoutSeconds) * 1000),
      trustedProxies: listen['trusted-proxies'] ?? [],
      tls,
      line,
    };
  });
  // Two listeners on one port of one address: the second could never bind (port 0, any free port, may repeat).
  const seen = new Map<string, number | undefined>();
  for (const { address, port, line } of listeners) {
    const key = `${address} ${port}`;
    if (port !== 0 && seen.has(key)) throw new ConfigError(`${source}:${line ?? 0}: <listen address="${address}" port="${port}">: the same address and port as the <listen> on line ${seen.get(key) ?? 0}; each listener needs its own`);
    seen.set(key, line);
  }
  return listeners.map(({ line: _line, ...listener }) => listener);
}

function buildImageApi(elements: ParsedElements, source: string): Config['imageApi'] {
  const values = valuesOf(elements, 'image-api');
  const where = `${source}:${elements['image-api']?.line ?? 0}: <image-api>`;
  if ((values.key === undefined) !== (values.salt === undefined)) {
    throw new ConfigError(`${where}: ${values.key === undefined ? 'key' : 'salt'} is missing; signed option URLs need both key and salt (hex, as imgproxy's IMGPROXY_KEY and IMGPROXY_SALT)`);
  }
  // A short key can be found by trying them all offline from one signed URL (HMAC-SHA256 keys: 32 bytes, RFC 2104):
  // signing with one would only look safe.
  if (values.key !== undefined && values.key.length < 32) {
    throw new ConfigError(`${where}: key is ${values.key.length / 2} bytes: signatures made with it can be forged by trying every key; use at least 16 bytes (openssl rand -hex 32)`);
  }
  return {
    enabled: values.enabled ?? false,
    signing: values.key !== undefined && values.salt !== undefined ? { key: values.key, salt: values.salt } : null,
    maxQueue: values['max-queue'] ?? DEFAULTS.imageApiMaxQueue,
  };
}

function buildCluster(elements: ParsedElements, source: string): Config['cluster'] {
  if (!elements.cluster) return null;
  const values = valuesOf(elements, 'cluster');
  if (values.redis === undefined) throw new ConfigError(`${source}:${elements.cluster.line}: <cluster>: redis is required (a redis:// or rediss:// (TLS) URL such as "redis://127.0.0.1:6379/0")`);
  return { redis: values.redis, instance: values.instance ?? `${hostname()}-${process.pid}`, leaseMs: Math.round((values.lease ?? 10) * 1000) };
}

function buildFallbackImage(elements: ParsedElements, source: string): Config['fallbackImage'] {
  const values = valuesOf(elements, 'fallback-image');
  if (values.url === undefined) {
    throw new ConfigError(`${source}:${elements['fallback-image']?.line ?? 0}: <fallback-image>: url is required (${'an image URL, or a path on the origin such as "/img/missing.png"'})`);
  }
  return { url: values.url, maxBytes: values['max-bytes'] ?? 5 * 2 ** 20 };
}

/** What `<image-compression/>` with no attributes means: the image API uses it when compression is off. */
export function defaultImageCompression(): ImageCompressionConfig {
  return buildCompression({}, 'defaults', []);
}

function buildCompression(elements: ParsedElements, source: string, warnings: string[]): ImageCompressionConfig {
  const values = valuesOf(elements, 'image-compression');
  const line = elements['image-compression']?.line ?? 0;
  const where = (attribute: string, value: string) => `${source}:${line}: <image-compression ${attribute}="${value}">`;
  const preset = values.preset ?? DEFAULT_PRESET;
  const minQuality = values['min-quality'] ?? DEFAULTS.minQuality;
  const maxQuality = values['max-quality'] ?? DEFAULTS.maxQuality;
  if (minQuality > maxQuality) {
    throw new ConfigError(
      `${source}:${line}: <image-compression min-quality="${minQuality}" max-quality="${maxQuality}">: min-quality must be at most max-quality`,
    );
  }
  const method = values.method ?? 'dssim';
  let d = values.d ?? COMPRESSION_PRESETS[preset].d;
  let targetBytes: number | undefined;
  if (values.target !== undefined) {
    const target = qualityTarget(method, values.target);
    if ('error' in target) throw new ConfigError(`${where('target', values.target)}: ${target.error}`);
    if ('bytes' in target) targetBytes = target.bytes;
    else d = target.d;
  } else if (method === 'size') {
    throw new ConfigError(`${where('method', 'size')}: method="size" needs target="…" (bytes, such as "10KB")`);
  }
  // d for every lossy format by default (SPEC §1); FIT's way (`jpeg`) on request.
  const aiqa = values.aiqa ?? 'all';
  // With d for every lossy format, a quality set by hand only serves when d is off (d ≤ 0) or for `method="none"`.
  if (values.quality !== undefined && aiqa === 'all' && d > 0 && (method === 'dssim' || method === 'ml')) {
    warnings.push(
      `${where('quality', String(values.quality))}: has no effect while d > 0: with aiqa="all" every lossy quality is searched under d; aiqa="jpeg" (FIT's behaviour) encodes WebP at this quality`,
    );
  }
  for (const [format, min] of Object.entries(values['format-min'] ?? {})) {
    const max = values['format-max']?.[format as keyof typeof values['format-max']] ?? maxQuality;
    if (min > max) throw new ConfigError(`${where('format-min', `${format}=${min}`)}: must be at most ${format}'s maximum quality (${max})`);
  }
  // A format's maximum under the lowest quality the search may take leaves it no quality at all.
  for (const [format, max] of Object.entries(values['format-max'] ?? {})) {
    const min = values['format-min']?.[format as keyof typeof values['format-min']] ?? minQuality;
    if (max < min) throw new ConfigError(`${where('format-max', `${format}=${max}`)}: must be at least ${format}'s minimum quality (${min}: min-quality or format-min)`);
  }
  return {
    preset,
    method,
    targetBytes,
    allowedError: values['allowed-error'] ?? 0,
    formatMin: values['format-min'] ?? {},
    formatMax: values['format-max'] ?? {},
    d,
    quality: values.quality ?? COMPRESSION_PRESETS[preset].quality,
    formats: values.formats ?? ['webp', 'avif', 'zorro'],
    minQuality,
    maxQuality,
    losslessPng: values['lossless-png'] ?? false,
    aiqa,
    interimMaxAge: values['interim-max-age'] ?? DEFAULTS.interimMaxAgeSeconds,
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof URL)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
