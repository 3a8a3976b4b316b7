import type { IncomingHttpHeaders } from 'node:http';
import { headerText } from './header-values.js';

/**
 * Whether a `304` confirms a stored response whose entity tag is `storedTag` (RFC 9111 §4.3.4): it does unless it
 * carries an entity tag that is not the stored one: a strong tag must be the stored tag, strong and character for
 * character; a weak one must be it by the weak comparison (RFC 9110 §8.8.3.2). A `304` without one (against RFC
 * 9110 §15.4.5, but common) is taken as the confirmation it answers. A sloppy origin's `304` naming other bytes
 * must not relabel the stored ones with its tag: a client revalidating with that tag would keep them for good.
 */
export function confirmsStored(storedTag: string | undefined, notModified: IncomingHttpHeaders): boolean {
  const tag = headerText(notModified.etag).trim();
  if (tag === '') return true;
  if (!tag.startsWith('W/')) return storedTag === tag;
  return storedTag !== undefined && storedTag.replace(/^W\//, '') === tag.slice(2);
}
