import type { IncomingMessage, ServerResponse } from 'node:http';
import { linkValues } from '../rewrite/link-header.js';

/** What the proxy does to a `Link` field of a `103` before the client gets it (marks its image preloads). */
export type LinkFieldMarker = (res: ServerResponse, field: string) => string;

const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);
const isToken = (c: string | undefined) => c !== undefined && !/[;"=\s]/.test(c);

/**
 * Whether a link-value is in the form Node's `writeEarlyHints` accepts (it refuses the whole hint otherwise): the
 * target, then `;`-separated parameters whose names hold no `=` and whose values hold no white space, quote or `;`
 * (so `imagesrcset="a.jpg 1x, b.jpg 2x"` is not one of them). Read in one pass: Node checks the value with a
 * regular expression that backtracks exponentially on one it does not match (`a=b=c` repeated: 180 bytes from the
 * origin held the event loop for minutes), so only a value it matches at its first try may reach it.
 */
export function nodeWritesLinkValue(value: string): boolean {
  const n = value.length;
  const close = value.indexOf('>');
  if (value[0] !== '<' || close === -1) return false;
  let i = close + 1;
  while (i < n) {
    while (isSpace(value[i])) i += 1;
    if (value[i] !== ';') return false;
    i += 1;
    while (isSpace(value[i])) i += 1;
    const name = i;
    while (isToken(value[i])) i += 1;
    if (i === name) return false;
    if (value[i] !== '=') continue;
    i += 1;
    const quoted = value[i] === '"';
    if (quoted) i += 1;
    while (i < n && !/[;"\s]/.test(value[i]!)) i += 1;
    if (quoted) {
      if (value[i] !== '"') return false;
      i += 1;
    }
  }
  return true;
}

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
      const value = field.slice(link.start, link.end).trimEnd();
      if (nodeWritesLinkValue(value)) links.push(value);
    }
  }
  if (links.length > 0) res.writeEarlyHints({ link: links });
}

/** Link fields as the origin sent them (requests whose pages are not rewritten: images, the image API). */
export const UNMARKED: LinkFieldMarker = (_res, field) => field;
