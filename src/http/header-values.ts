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
