import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Transform } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import zlib from 'node:zlib';
import { type Capabilities, capabilitiesFromUserAgent } from '../client/index.js';
import type { Config, ModernFormat } from '../config/index.js';
import { markValue } from '../marks/index.js';
import type { ResponseHandler } from '../proxy/origin-proxy.js';
import { passThrough } from '../proxy/pass-through.js';
import { type CachedDocument, DocumentCache } from '../rewrite/document-cache.js';
import { cssRewriteStream, htmlRewriteStream, type MarkingContext } from '../rewrite/index.js';
import { VIEWPORT_HEADERS } from '../client/viewport.js';
import { type ContentCoding, keepableDocument, notModifiedHeaders, revalidatedHeaders, rewritableDocument, rewrittenDocumentHeaders } from './document-headers.js';

/** Brotli's default (11) is for static files; on the fly, 5 keeps most of the gain at a fraction of the CPU. */
const BROTLI_ON_THE_FLY = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } };

function decoderFor(coding: ContentCoding): Transform | undefined {
  if (coding === 'gzip') return zlib.createGunzip();
  if (coding === 'deflate') return zlib.createInflate();
  if (coding === 'br') return zlib.createBrotliDecompress();
  return undefined;
}

function encoderFor(coding: ContentCoding): zlib.Gzip | zlib.Deflate | zlib.BrotliCompress | undefined {
  if (coding === 'gzip') return zlib.createGzip();
  if (coding === 'deflate') return zlib.createDeflate();
  if (coding === 'br') return zlib.createBrotliCompress(BROTLI_ON_THE_FLY);
  return undefined;
}

/** The site as the client sees it: its Host, and https when it came over TLS or through a TLS front. */
function siteOf(req: IncomingMessage, fallbackHost: string): URL {
  const forwarded = String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim().toLowerCase();
  const encrypted = (req.socket as TLSSocket).encrypted === true;
  const scheme = forwarded === 'https' || forwarded === 'http' ? forwarded : encrypted ? 'https' : 'http';
  try {
    return new URL(`${scheme}://${req.headers.host ?? fallbackHost}/`);
  } catch {
    return new URL(`${scheme}://${fallbackHost}/`);
  }
}

/** A mark never promises a format the config does not offer (SPEC §1 `formats`). */
function offered(client: Capabilities, formats: readonly ModernFormat[]): Capabilities {
  return { webp: client.webp && formats.includes('webp'), avif: client.avif && formats.includes('avif'), zorro: client.zorro && formats.includes('zorro') };
}

export interface RewriteSettings {
  readonly rewrite: Config['rewrite'];
  readonly formats: readonly ModernFormat[];
  /** Host name to assume when a client sent no `Host`. */
  readonly fallbackHost: string;
  /** `<image-scaling/>`: ask browsers for the viewport width and DPR on the page's image requests (`Accept-CH`). */
  readonly clientHints?: boolean;
}

/** What happens to a request on its way to the origin and to its response on the way back. */
export interface ResponsePolicy {
  /** Called before the request is forwarded (may add the conditional headers of a cached document). */
  beforeForward(req: IncomingMessage, res: ServerResponse): void;
  readonly handle: ResponseHandler;
}

/** Everything passes through as it is. */
export const PASS_THROUGH: ResponsePolicy = { beforeForward: () => undefined, handle: passThrough };

interface Exchange {
  readonly marking: MarkingContext;
  readonly cacheKey: string | undefined;
  /** The cached document this request revalidates with a conditional request of ours. */
  readonly revalidating: CachedDocument | undefined;
}

/**
 * SPEC §3/§4 on the way out: HTML and CSS documents go through the rewriters (decoded and re-encoded with their
 * content coding), everything else passes through untouched. Rewritten documents with a validator are kept and
 * revalidated by a conditional request, so a repeat view costs the origin a `304` and us no parse.
 */
export function createDocumentRewriting(settings: RewriteSettings): ResponsePolicy {
  const cache = settings.rewrite.cacheBytes > 0 ? new DocumentCache(settings.rewrite.cacheBytes) : undefined;
  const exchanges = new WeakMap<ServerResponse, Exchange>();
  const withClientHints = (headers: string[]) => (settings.clientHints ? [...headers, 'Accept-CH', VIEWPORT_HEADERS.filter((h) => h !== 'User-Agent').join(', ')] : headers);

  function beforeForward(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') return;
    const marking: MarkingContext = {
      site: siteOf(req, settings.fallbackHost),
      capabilities: offered(capabilitiesFromUserAgent(req.headers['user-agent']), settings.formats),
    };
    const h = req.headers;
    // The client's own conditional or range request goes to the origin as it is; so does anything personal.
    const usable = cache && !h['if-none-match'] && !h['if-modified-since'] && !h.range && !h.authorization && !h.cookie;
    const cacheKey = usable ? [marking.site.origin, req.url, markValue(marking.capabilities), h['accept-encoding'] ?? ''].join(' ') : undefined;
    const revalidating = cacheKey ? cache?.get(cacheKey) : undefined;
    if (revalidating?.etag) h['if-none-match'] = revalidating.etag;
    else if (revalidating?.lastModified) h['if-modified-since'] = revalidating.lastModified;
    exchanges.set(res, { marking, cacheKey, revalidating });
  }

  function serveCached(key: string, entry: CachedDocument, originRes: IncomingMessage, res: ServerResponse, done: Parameters<ResponseHandler>[2]): void {
    originRes.resume();
    const originHeaders = revalidatedHeaders(entry.originHeaders, originRes.rawHeaders);
    cache?.set(key, { ...entry, originHeaders });
    const headers = withClientHints(rewrittenDocumentHeaders(originHeaders));
    headers.push('Content-Length', String(entry.body.length));
    res.writeHead(200, entry.statusMessage, headers);
    res.end(entry.body, () => done({ bytes: entry.body.length }));
  }

  const handle: ResponseHandler = (originRes, res, done) => {
    const req = res.req;
    const exchange = exchanges.get(res);
    if (exchange?.revalidating && exchange.cacheKey) {
      if (originRes.statusCode === 304) {
        serveCached(exchange.cacheKey, exchange.revalidating, originRes, res, done);
        return;
      }
      cache?.delete(exchange.cacheKey);
    }
    if (originRes.statusCode === 304 && req.method === 'GET' && req.headers['if-none-match']?.includes('W/"')) {
      res.writeHead(304, originRes.statusMessage, notModifiedHeaders(req.headers['if-none-match'], originRes.rawHeaders));
      originRes.resume();
      res.end(() => done({ bytes: 0 }));
      return;
    }
    const document = rewritableDocument(req.method, originRes.statusCode, originRes.headers, settings.rewrite.maxBytes);
    if (!document || !exchange) {
      passThrough(originRes, res, done);
      return;
    }
    const { marking } = exchange;
    // Joined as text: a path such as `//other.example/x` is a path on this site, not a network-path reference.
    const documentUrl = new URL(marking.site.origin + (req.url ?? '/'));
    const rewriter =
      document.kind === 'html'
        ? htmlRewriteStream({ documentUrl, marking, lazyAttributes: settings.rewrite.lazyAttributes }, settings.rewrite.maxBytes)
        : cssRewriteStream(documentUrl, marking, settings.rewrite.maxBytes);
    const decoder = decoderFor(document.coding);
    const encoder = encoderFor(document.coding);

    res.writeHead(200, originRes.statusMessage, withClientHints(rewrittenDocumentHeaders(originRes.rawHeaders)));
    const last = encoder ?? rewriter;
    const keep = cache && exchange.cacheKey && keepableDocument(req.headers, originRes.headers) ? [] as Buffer[] : undefined;
    let bytes = 0;
    last.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (keep && cache && bytes <= cache.maxEntryBytes) keep.push(chunk);
    });

    const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [originRes];
    if (decoder) stages.push(decoder);
    stages.push(rewriter);
    if (encoder) stages.push(encoder);
    pipeline([...stages, res], (err) => {
      if (err) res.destroy(err);
      else if (keep && cache && exchange.cacheKey && bytes <= cache.maxEntryBytes) {
        cache.set(exchange.cacheKey, {
          originHeaders: originRes.rawHeaders,
          statusMessage: originRes.statusMessage ?? 'OK',
          body: Buffer.concat(keep),
          etag: originRes.headers.etag,
          lastModified: originRes.headers['last-modified'],
        });
      }
      done(err ? { bytes, error: err } : { bytes });
    });
    // Streaming (SPEC §3): each rewritten piece leaves the compressor at once instead of waiting for its window.
    // Registered after the pipeline so that it runs after the piece has been written to the compressor.
    if (encoder) rewriter.on('data', () => encoder.flush(document.coding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH));
  };

  return { beforeForward, handle };
}
