import type { IncomingMessage } from 'node:http';
import { type HostMode, type ImageSource, imageSource } from '../image-source.js';

/**
 * Step 1 of an image request: where its original comes from (the store key and the origin's path), or why it is
 * not the image routes' to answer (handed back to be forwarded as it is).
 */
export function resolveImage(req: IncomingMessage, path: string, hostMode: HostMode): { readonly source: ImageSource } | { readonly forward: string } {
  if (req.method !== 'GET' && req.method !== 'HEAD') return { forward: `method ${req.method}` };
  if (req.headers.authorization !== undefined) return { forward: 'request with Authorization' };
  const source = imageSource(path, req.headers, hostMode);
  return source ? { source } : { forward: 'no store key for this request (a Host that names no server, or a URL too long)' };
}
