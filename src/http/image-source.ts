import type { IncomingHttpHeaders } from 'node:http';

/** `<origin host>`: which `Host` the origin gets, ours (its own name) or the client's. */
export type HostMode = 'origin' | 'client';

/**
 * Where an image comes from: the path asked of the origin, the `Host` it is asked with (only when the client's
 * `Host` goes to the origin), and the store key that names both. With `host="origin"` one host is ever asked, so
 * the key is the path (as stores written before keep it); with `host="client"` the key names the host too, so two
 * virtual hosts' `/logo.jpg` never share an entry.
 */
export interface ImageSource {
  readonly key: string;
  /** The request target in origin-form (`/…`), as `originPath` made it. */
  readonly path: string;
  readonly host?: string;
}

/**
 * A `Host` value as RFC 9110 §7.2 allows it: a registered name or an IPv4 or bracketed IPv6 literal, with an
 * optional port. Anything else (a path, spaces, a user part) is never sent on or used in a key.
 */
const HOST = /^(?:[a-z0-9._~!$&'()*+,;=%-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * The longest key the store takes: LMDB refuses keys over 1,978 bytes, and a key is stored with a prefix and a
 * mark (each character of a request target may take two bytes in UTF-8). A longer URL is passed through.
 */
export const MAX_KEY_LENGTH = 900;

/**
 * The source of an image asked for at `path`; `undefined` when it cannot be kept: the client's `Host` should go
 * and is unusable, or the URL is too long for a store key.
 */
export function imageSource(path: string, headers: IncomingHttpHeaders, mode: HostMode): ImageSource | undefined {
  let source: ImageSource | undefined;
  if (mode === 'origin') {
    source = { key: path, path };
  } else {
    const host = headers.host?.toLowerCase();
    if (host !== undefined && HOST.test(host)) source = { key: `//${host}${path}`, path, host };
  }
  return source && source.key.length <= MAX_KEY_LENGTH ? source : undefined;
}

/** The source a store key names (work another instance offered names only the key). */
export function sourceOfKey(key: string, mode: HostMode): ImageSource | undefined {
  if (mode === 'origin') return key.startsWith('/') ? { key, path: key } : undefined;
  if (!key.startsWith('//')) return undefined;
  const slash = key.indexOf('/', 2);
  if (slash === -1) return undefined;
  const host = key.slice(2, slash);
  return HOST.test(host) ? { key, path: key.slice(slash), host } : undefined;
}
