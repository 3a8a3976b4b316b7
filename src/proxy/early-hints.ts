import type { IncomingMessage, ServerResponse } from 'node:http';
import { linkValues } from '../rewrite/link-header.js';

/** What the proxy does to a `Link` field of a `103` before the client gets it (marks its image preloads). */
export type LinkFieldMarker = (res: ServerResponse, field: string) => string;

/**
 * A link-value in the form Node's `writeEarlyHints` accepts (it refuses the whole hint otherwise): the target,
 * then parameters whose values hold no white space, quote or `;` (so `imagesrcset="a.jpg 1x, b.jpg 2x"` is not
 * one of them).
 */
const NODE_LINK_VALUE = /^<[^>]*>(?:[ \t]*;[ \t]*[^;"\s]+(?:=(?:"[^;"\s]*"|[^;"\s]*))?)*$/;

/**
 * RFC 9110 §15.2: a proxy forwards the 1xx responses it did not ask for. A `103 Early Hints` (RFC 8297) from the
 * origin goes to the client with its `Link` fields (what browsers act on; other fields are dropped), each image
 * preload marked by `mark` as the page's own would be. Not to an HTTP/1.0 client (it cannot read a 1xx), nor
 * once the final response has begun. Link-values Node cannot write are left out: a hint is only a hint.
 */
export function forwardEarlyHints(info: Pick<IncomingMessage, 'statusCode' | 'rawHeaders'>, req: IncomingMessage, res: ServerResponse, mark: LinkFieldMarker): void {
  if (info.statusCode !== 103 || res.headersSent || res.destroyed) return;
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return;
  const links: string[] = [];
  const raw = info.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length !== 4 || raw[i]!.toLowerCase() !== 'link') continue;
    const field = mark(res, raw[i + 1]!);
    for (const link of linkValues(field)) {
      const value = field.slice(link.start, link.end);
      if (NODE_LINK_VALUE.test(value)) links.push(value);
    }
  }
  if (links.length > 0) res.writeEarlyHints({ link: links });
}

/** Link fields as the origin sent them (requests whose pages are not rewritten: images, the image API). */
export const UNMARKED: LinkFieldMarker = (_res, field) => field;
