import { isAsciiWhitespace } from './ascii-whitespace.js';
import type { UrlSpan } from './text-span.js';


/**
 * The URL of each candidate of a `srcset`, as the HTML standard's "parse a srcset attribute" finds them: URLs
 * may contain commas, a URL ending in commas ends its candidate, descriptors run to the next comma outside
 * parentheses. Positions are in `value`.
 */
export function srcsetUrls(value: string): UrlSpan[] {
  const spans: UrlSpan[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && (isAsciiWhitespace(value[i]) || value[i] === ',')) i += 1;
    if (i >= n) break;
    const start = i;
    while (i < n && !isAsciiWhitespace(value[i])) i += 1;
    let end = i;
    let endsCandidate = false;
    while (end > start && value[end - 1] === ',') {
      end -= 1;
      endsCandidate = true;
    }
    if (end > start) spans.push({ start, end });
    if (endsCandidate) continue;
    // Descriptors: up to the next comma that is not inside parentheses.
    let depth = 0;
    while (i < n) {
      const c = value[i]!;
      if (c === '(') depth += 1;
      else if (c === ')' && depth > 0) depth -= 1;
      else if (c === ',' && depth === 0) break;
      i += 1;
    }
    i += 1;
  }
  return spans;
}
