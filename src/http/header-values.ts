import { validateHeaderValue } from 'node:http';

/** A header as one string, however Node delivered it (repeated headers as an array). */
export function headerText(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(', ') : (value ?? '')).trim();
}

/** The comma-separated tokens of a header, lower-cased. */
export function headerTokens(value: string | string[] | undefined): string[] {
  return headerText(value)
    .toLowerCase()
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** `Cache-Control` directives by name (lower-cased), with their values unquoted. */
export function cacheDirectives(value: string | string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const token of headerTokens(value)) {
    const [name, directiveValue = ''] = token.split('=');
    if (name) map.set(name.trim(), directiveValue.trim().replace(/"/g, ''));
  }
  return map;
}

/**
 * Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): named (or as `x-gzip`) or covered by `*`, with a
 * non-zero weight; an explicit `gzip;q=0` refuses it even after a `*`.
 */
export function acceptsGzip(value: string | string[] | undefined): boolean {
  let named: boolean | undefined;
  let wildcard = false;
  for (const token of headerTokens(value)) {
    const [coding = '', ...parameters] = token.split(';').map((part) => part.trim());
    const weight = parameters.find((p) => p.startsWith('q='));
    const allowed = weight === undefined || Number(weight.slice(2)) > 0;
    if (coding === 'gzip' || coding === 'x-gzip') named = allowed;
    else if (coding === '*') wildcard = allowed;
  }
  return named ?? wildcard;
}

/** Longest value of a header the proxy writes itself (a skip reason, an image description). */
const OWN_VALUE_MAX = 300;

/**
 * A header value the proxy writes as one line of printable ASCII (SPEC §5.5), bounded: libvips' errors span
 * several lines, and Node refuses a response whose header holds a line break or a control character. Empty:
 * `undefined` (the header is left out).
 */
export function safeHeaderValue(text: string, max = OWN_VALUE_MAX): string | undefined {
  let value = text.replace(/[^\x20-\x7e]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  if (value.length > max) value = `${value.slice(0, max - 3).trimEnd()}...`;
  return value === '' ? undefined : value;
}

/**
 * Headers made safe to write: the proxy's own (`X-Slimproxy-*`) as `safeHeaderValue` makes them, any other value
 * Node would refuse made the same way. A value that cannot be made safe is dropped: never a `502` for a header.
 */
export function safeHeaders(headers: Readonly<Record<string, string | number>>): Record<string, string | number> {
  const safe: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'number') {
      safe[name] = value;
      continue;
    }
    const kept = /^x-slimproxy-/i.test(name) ? safeHeaderValue(value) : passedHeaderValue(name, value);
    if (kept !== undefined) safe[name] = kept;
  }
  return safe;
}

/**
 * A value from the origin, to be sent on: as it came (Latin-1 bytes included, as Node read them), unless Node
 * would refuse to write it; then made printable ASCII, or dropped when nothing is left.
 */
export function passedHeaderValue(name: string, value: string): string | undefined {
  return writable(name, value) ? value : safeHeaderValue(value, 8192);
}

function writable(name: string, value: string): boolean {
  try {
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}
