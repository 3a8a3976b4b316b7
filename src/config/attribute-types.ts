import { isIP } from 'node:net';

/**
 * Parsers for config attribute values. Each knows how to read one raw string and how to say, in a phrase that
 * completes "must be …", what it accepts: the error message is built from that phrase, so the two never drift.
 */
export interface AttributeType<T> {
  /** The value, or `undefined` when `raw` is not acceptable. */
  parse(raw: string): T | undefined;
  /** What is allowed, completing "must be …". */
  readonly allowed: string;
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function integer(min: number, max: number): AttributeType<number> {
  return {
    allowed: `an integer from ${min} to ${max}`,
    parse(raw) {
      const text = raw.trim();
      if (!INTEGER.test(text)) return undefined;
      const value = Number(text);
      return value >= min && value <= max ? value : undefined;
    },
  };
}

export function decimal(min: number, max: number, note = ''): AttributeType<number> {
  return {
    allowed: `a number from ${min} to ${max}${note}`,
    parse(raw) {
      const text = raw.trim();
      if (!DECIMAL.test(text)) return undefined;
      const value = Number(text);
      return Number.isFinite(value) && value >= min && value <= max ? value : undefined;
    },
  };
}

/** A number strictly above zero (durations, areas), with an upper bound. */
export function positive(max: number, unit: string): AttributeType<number> {
  return {
    allowed: `a number of ${unit} above 0 and at most ${max}`,
    parse(raw) {
      const text = raw.trim();
      if (!DECIMAL.test(text)) return undefined;
      const value = Number(text);
      return Number.isFinite(value) && value > 0 && value <= max ? value : undefined;
    },
  };
}

export function oneOf<const T extends string>(...choices: readonly T[]): AttributeType<T> {
  return {
    allowed: `one of ${choices.map((c) => `"${c}"`).join(', ')}`,
    parse(raw) {
      return (choices as readonly string[]).includes(raw.trim()) ? (raw.trim() as T) : undefined;
    },
  };
}

/** A space- or comma-separated subset of `choices`, kept in the order of `choices`. */
export function subsetOf<const T extends string>(...choices: readonly T[]): AttributeType<readonly T[]> {
  return {
    allowed: `a space-separated list of ${choices.map((c) => `"${c}"`).join(', ')} (or empty)`,
    parse(raw) {
      const words = raw.split(/[\s,]+/).filter((w) => w !== '');
      if (!words.every((w) => (choices as readonly string[]).includes(w))) return undefined;
      return choices.filter((c) => words.includes(c));
    },
  };
}

export const boolean: AttributeType<boolean> = {
  allowed: '"true" or "false"',
  parse(raw) {
    const text = raw.trim();
    if (text === 'true') return true;
    if (text === 'false') return false;
    return undefined;
  },
};

export const nonEmptyText: AttributeType<string> = {
  allowed: 'a non-empty text',
  parse(raw) {
    return raw.trim() === '' ? undefined : raw.trim();
  },
};

/** A secret written as hex (imgproxy's key and salt), such as the output of `openssl rand -hex 32`. */
export const hexBytes: AttributeType<string> = {
  allowed: 'an even number of hex digits, such as the output of "openssl rand -hex 32"',
  parse(raw) {
    const text = raw.trim();
    return /^(?:[0-9A-Fa-f]{2})+$/.test(text) ? text.toLowerCase() : undefined;
  },
};

/** An address to listen on: an IPv4/IPv6 literal or a host name. */
export const listenAddress: AttributeType<string> = {
  allowed: 'an IP address or host name such as "0.0.0.0", "127.0.0.1" or "::"',
  parse(raw) {
    const text = raw.trim();
    return /^[0-9A-Za-z.:_-]+$/.test(text) ? text : undefined;
  },
};

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** How lossy qualities are chosen: the one list, for config.xml's `method` and the image API's `autoquality`. */
export const QUALITY_METHODS = ['dssim', 'size', 'none', 'ml'] as const;
export type QualityMethod = (typeof QUALITY_METHODS)[number];

/**
 * A quality method's target as written, in config.xml or a URL: bytes for `size` (such as "10KB"), a DSSIM for
 * `dssim` and `ml`; `none` takes none. An error says what is allowed.
 */
export function qualityTarget(method: QualityMethod, raw: string): { readonly bytes: number } | { readonly d: number } | { readonly error: string } {
  if (method === 'none') return { error: 'method="none" has no target (it uses quality)' };
  if (method === 'size') {
    const bytes = byteSize(1).parse(raw);
    return bytes === undefined ? { error: `with method="size", target must be ${byteSize(1).allowed}` } : { bytes };
  }
  const d = decimal(0, 1).parse(raw);
  return d === undefined || d <= 0 ? { error: `with method="${method}", target must be a DSSIM above 0 and at most 1` } : { d };
}

/** A byte size such as "1GiB", "500MB" or "1048576". Decimal and binary units mean what they say. */
export function byteSize(minBytes: number): AttributeType<number> {
  return {
    allowed: `a size of at least ${minBytes} bytes such as "512MiB", "1GiB" or "2GB" (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`,
    parse(raw) {
      const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw);
      if (!match) return undefined;
      const factor = SIZE_UNITS[(match[2] ?? '').toLowerCase()];
      if (factor === undefined) return undefined;
      const bytes = Math.floor(Number(match[1]) * factor);
      return bytes >= minBytes && Number.isSafeInteger(bytes) ? bytes : undefined;
    },
  };
}

export type OriginTarget = { kind: 'embedded' } | { kind: 'url'; url: URL };

/** "embedded" (the bundled demo site) or an absolute http(s) URL without credentials or fragment. */
export const originUrl: AttributeType<OriginTarget> = {
  allowed: '"embedded" or an absolute http:// or https:// URL such as "http://127.0.0.1:8080"',
  parse(raw) {
    const text = raw.trim();
    if (text === 'embedded') return { kind: 'embedded' };
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username !== '' || url.password !== '' || url.hash !== '' || url.search !== '') return undefined;
    return { kind: 'url', url };
  },
};

/**
 * Addresses and networks (CIDR), space- or comma-separated, such as "127.0.0.1 10.0.0.0/8 ::1": the proxies in
 * front of slimproxy whose `X-Forwarded-For` is believed.
 */
export const addressList: AttributeType<readonly string[]> = {
  allowed: 'a space-separated list of IP addresses or networks such as "127.0.0.1 10.0.0.0/8 ::1"',
  parse(raw) {
    const items = raw.split(/[\s,]+/).filter((item) => item !== '');
    if (items.length === 0) return undefined;
    for (const item of items) {
      const [address = '', bits, ...rest] = item.split('/');
      const family = isIP(address);
      if (family === 0 || rest.length > 0) return undefined;
      if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128))) return undefined;
    }
    return items;
  },
};

/**
 * Host names, space- or comma-separated, such as "status.example.net slimproxy-1.internal", or `*` alone for any
 * name: the names the admin listener answers besides IP addresses and `localhost`.
 */
export const hostNames: AttributeType<readonly string[]> = {
  allowed: 'a space-separated list of host names such as "status.example.net slimproxy-1", or "*" for any',
  parse(raw) {
    const names = raw.split(/[\s,]+/).filter((n) => n !== '').map((n) => n.toLowerCase().replace(/\.$/, ''));
    if (names.length === 0) return undefined;
    if (names.includes('*')) return names.length === 1 ? names : undefined;
    return names.every((n) => /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$/.test(n)) ? names : undefined;
  },
};

/** A space-separated list of HTML attribute names, e.g. "data-src data-srcset". */
export const attributeNames: AttributeType<readonly string[]> = {
  allowed: 'a space-separated list of attribute names such as "data-src data-srcset"',
  parse(raw) {
    const names = raw.split(/[\s,]+/).filter((n) => n !== '');
    return names.every((n) => /^[a-zA-Z_:][-a-zA-Z0-9_:.]*$/.test(n)) ? names.map((n) => n.toLowerCase()) : undefined;
  },
};

/** Encoder formats whose quality a search picks. */
export type QualityFormat = 'jpeg' | 'webp' | 'avif';
const QUALITY_FORMATS: readonly QualityFormat[] = ['jpeg', 'webp', 'avif'];

/** Per-format qualities such as "avif=60 webp=70" (imgproxy's format_quality style), each 1–100. */
export const formatQualities: AttributeType<Readonly<Partial<Record<QualityFormat, number>>>> = {
  allowed: 'a list of format=quality such as "avif=60 webp=70" (formats jpeg, webp, avif; qualities 1 to 100)',
  parse(raw) {
    const result: Partial<Record<QualityFormat, number>> = {};
    const items = raw.split(/[\s,]+/).filter((item) => item !== '');
    if (items.length === 0) return undefined;
    for (const item of items) {
      const match = /^([a-z]+)=(\d{1,3})$/.exec(item.toLowerCase());
      if (!match || !QUALITY_FORMATS.includes(match[1] as QualityFormat)) return undefined;
      const quality = Number(match[2]);
      if (quality < 1 || quality > 100) return undefined;
      result[match[1] as QualityFormat] = quality;
    }
    return result;
  },
};

/** Any non-empty text; its meaning is checked against other attributes (e.g. `target` by `method`). */
export const text: AttributeType<string> = {
  allowed: 'a value',
  parse: (raw) => (raw.trim() === '' ? undefined : raw.trim()),
};

/** An absolute http(s) URL, or a path on the origin starting with "/" (resolved against it at start). */
export const fallbackUrl: AttributeType<string> = {
  allowed: 'an absolute http:// or https:// URL, or a path on the origin starting with "/", such as "/img/missing.png"',
  parse(raw) {
    const text = raw.trim();
    if (text.startsWith('/') && !text.startsWith('//')) return text;
    try {
      const url = new URL(text);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
    } catch {
      return undefined;
    }
  },
};

/**
 * A redis:// URL, or rediss:// for TLS (host, port, optional /db), as Redis clients take it: a password goes before
 * the host as ":password@" or, with a Redis 6 ACL user, "user:password@". A name without a colon is refused: Redis
 * clients disagree whether it is a user or a password, and a password taken for a user name would be logged.
 */
export const redisUrl: AttributeType<string> = {
  allowed: 'a redis:// or rediss:// (TLS) URL such as "redis://127.0.0.1:6379/0" or "rediss://user:secret@redis.example:6380/0" (a password as ":secret@" or "user:secret@")',
  parse(raw) {
    try {
      const url = new URL(raw.trim());
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return undefined;
      if (url.hostname === '' || !/^(\/\d{0,2})?$/.test(url.pathname)) return undefined;
      if (url.username !== '' && url.password === '') return undefined;
      return url.href;
    } catch {
      return undefined;
    }
  },
};
