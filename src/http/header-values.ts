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
