import {
  addressList,
  attributeNames,
  type AttributeType,
  boolean,
  byteSize,
  decimal,
  fallbackUrl,
  formatQualities,
  hexBytes,
  hostNames,
  integer,
  listenAddress,
  nonEmptyText,
  oneOf,
  originUrl,
  positive,
  QUALITY_METHODS,
  redisUrl,
  subsetOf,
  text,
} from './attribute-types.js';
import { PRESET_NAMES } from './presets.js';

/**
 * Every element `conf/config.xml` may hold under `<config>`, and every attribute each may carry. Anything not
 * named here is an error: a misspelt attribute silently ignored is a setting the user believes in but does not
 * have.
 */
export const CONFIG_SCHEMA = {
  listen: {
    address: listenAddress,
    port: integer(0, 65535),
    'idle-timeout': positive(3600, 'seconds'),
    'trusted-proxies': addressList,
    'tls-cert': nonEmptyText,
    'tls-key': nonEmptyText,
  },
  origin: {
    url: originUrl,
    timeout: positive(3600, 'seconds'),
    host: oneOf('origin', 'client'),
    'heuristic-max-age': integer(0, 31_536_000),
  },
  'image-compression': {
    preset: oneOf(...PRESET_NAMES),
    quality: integer(1, 100),
    d: decimal(-1, 1, ' (0 or less: use the fixed quality)'),
    formats: subsetOf('webp', 'avif', 'zorro'),
    'min-quality': integer(1, 100),
    'max-quality': integer(1, 100),
    'lossless-png': boolean,
    aiqa: oneOf('jpeg', 'all'),
    method: oneOf(...QUALITY_METHODS),
    target: text,
    'allowed-error': decimal(0, 1, ''),
    'format-min': formatQualities,
    'format-max': formatQualities,
    'interim-max-age': integer(0, 600),
  },
  'image-scaling': {},
  'image-api': {
    enabled: boolean,
    key: hexBytes,
    salt: hexBytes,
    'max-queue': integer(1, 100_000),
  },
  cluster: {
    redis: redisUrl,
    instance: nonEmptyText,
    lease: positive(3600, 'seconds'),
  },
  'fallback-image': {
    url: fallbackUrl,
    'max-bytes': byteSize(64),
  },
  rewrite: {
    'lazy-attributes': attributeNames,
    'max-size': byteSize(1024),
    'cache-size': byteSize(0),
    'shared-caches': oneOf('vary', 'private'),
  },
  'interval-caching': {
    seconds: integer(0, 31_536_000),
  },
  store: {
    path: nonEmptyText,
    'max-size': byteSize(1 << 20),
  },
  limits: {
    'max-image-area': positive(1000, 'megapixels'),
    'max-image-processes': integer(1, 256),
    'max-buffered': byteSize(1 << 20),
    'max-experiment-memory': byteSize(64 << 20),
    'max-experiment-time': integer(1, 86_400),
  },
  admin: {
    enabled: boolean,
    address: listenAddress,
    port: integer(0, 65535),
    hosts: hostNames,
  },
  log: {
    level: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
} as const satisfies Record<string, Record<string, AttributeType<unknown>>>;

export type ElementName = keyof typeof CONFIG_SCHEMA;

/** Elements that may appear more than once (each `<listen>` is a listener of its own); all others at most once. */
export const REPEATABLE_ELEMENTS: ReadonlySet<ElementName> = new Set(['listen']);

/** The parsed attributes of one element: each one present or not. */
export type ElementValues<E extends ElementName> = {
  [A in keyof (typeof CONFIG_SCHEMA)[E]]?: (typeof CONFIG_SCHEMA)[E][A] extends AttributeType<infer T> ? T : never;
};

/** Environment variables that override one attribute each (the environment wins over the file). */
export const ENVIRONMENT_OVERRIDES = [
  { variable: 'SLIMPROXY_LISTEN_ADDRESS', element: 'listen', attribute: 'address' },
  { variable: 'SLIMPROXY_PORT', element: 'listen', attribute: 'port' },
  { variable: 'SLIMPROXY_ORIGIN', element: 'origin', attribute: 'url' },
  { variable: 'SLIMPROXY_ORIGIN_TIMEOUT', element: 'origin', attribute: 'timeout' },
  { variable: 'SLIMPROXY_STORE_PATH', element: 'store', attribute: 'path' },
  { variable: 'SLIMPROXY_STORE_MAX_SIZE', element: 'store', attribute: 'max-size' },
  { variable: 'SLIMPROXY_MAX_IMAGE_AREA', element: 'limits', attribute: 'max-image-area' },
  { variable: 'SLIMPROXY_MAX_IMAGE_PROCESSES', element: 'limits', attribute: 'max-image-processes' },
  { variable: 'SLIMPROXY_LOG_LEVEL', element: 'log', attribute: 'level' },
] as const satisfies readonly { variable: string; element: ElementName; attribute: string }[];
