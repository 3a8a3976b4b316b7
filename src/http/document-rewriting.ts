import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, pipeline, Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import zlib from 'node:zlib';
import { type Capabilities, capabilitiesFromUserAgent } from '../client/index.js';
import type { Config, ModernFormat } from '../config/index.js';
import { markValue } from '../marks/index.js';
import type { ResponseHandler } from '../proxy/origin-proxy.js';
import { type LinkFieldMarker, UNMARKED } from '../proxy/early-hints.js';
import { requestHeadersForOrigin } from '../proxy/hop-by-hop.js';
import { passThrough, trailerPairs } from '../proxy/pass-through.js';
import { RequestSlot } from '../proxy/request-slot.js';
import { type CachedDocument, DocumentCache } from '../rewrite/document-cache.js';
import { cssRewriteStream, htmlRewriteStream, type MarkingContext, MAX_REWRITTEN_STYLESHEET } from '../rewrite/index.js';
import { markLinkField, markLinkFields } from '../rewrite/link-header.js';
import { VIEWPORT_HEADERS } from '../client/viewport.js';
import type { Metrics } from '../observability/metrics.js';
import { isDecodingError, lenientDecoder } from './content-decoding.js';
import {
  ABOUT_THE_BYTES,
  type RewritableDocument,
  type ContentCoding,
  forbidsTransform,
  keepableDocument,
  mayBeRewrittenDocument,
  neverADocument,
  notModifiedDocument,
  personalResponse,
  revalidatedHeaders,
  rewritableDocument,
  rewrittenDocumentHeaders,
  varyNames,
} from './document-headers.js';
import { answerError } from './error-response.js';
import { confirmsStored } from './confirms.js';
import { headerTokens } from './header-values.js';

/** Brotli's default (11) is for static files; on the fly, 5 keeps most of the gain at a fraction of the CPU. */
const BROTLI_ON_THE_FLY = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } };

/**
 * The coding the client gets is the one the origin used (the client accepted it); a page that came as raw deflate
 * goes out zlib-wrapped, the form RFC 9110 §8.4.1.2 names "deflate".
 */
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
  /** Counts pages whose body could not be decoded (as origin failures, reason `content-coding`). */
  readonly metrics?: Pick<Metrics, 'originFailures'>;
}

/** What happens to a request on its way to the origin and to its response on the way back. */
export interface ResponsePolicy {
  /** Called before the request is forwarded (may add the conditional headers of a cached document). */
  beforeForward(req: IncomingMessage, res: ServerResponse): void;
  readonly handle: ResponseHandler;
  /** What the `Link` fields of a `103 Early Hints` for this request become. */
  readonly links: LinkFieldMarker;
}

/** Everything passes through as it is. */
export const PASS_THROUGH: ResponsePolicy = { beforeForward: () => undefined, handle: passThrough, links: UNMARKED };

interface Exchange {
  readonly marking: MarkingContext;
  readonly cacheKey: string | undefined;
  /** The client's request headers (before ours were added): what a kept page's `Vary` is matched against. */
  readonly requestHeaders: IncomingHttpHeaders;
  /** The cached document this request revalidates with a conditional request of ours. */
  readonly revalidating: CachedDocument | undefined;
}

/** The stream stages between the origin's body and the client: a decoder, the rewriter, an encoder. */
type Stage = NodeJS.ReadableStream | NodeJS.WritableStream;

/**
 * SPEC §3/§4 on the way out: HTML and CSS documents go through the rewriters (decoded and re-encoded with their
 * content coding), everything else passes through untouched. Rewritten documents with a validator are kept and
 * revalidated by a conditional request, so a repeat view costs the origin a `304` and us no parse.
 */
export function createDocumentRewriting(settings: RewriteSettings): ResponsePolicy {
  const cache = settings.rewrite.cacheBytes > 0 ? new DocumentCache(settings.rewrite.cacheBytes) : undefined;
  const exchanges = new RequestSlot<ServerResponse, Exchange>('slimproxy.document');
  const { sharedCaches } = settings.rewrite;
  const withClientHints = (headers: string[]) => (settings.clientHints ? [...headers, 'Accept-CH', VIEWPORT_HEADERS.filter((h) => h !== 'User-Agent').join(', ')] : headers);

  function markingOf(req: IncomingMessage): MarkingContext {
    return { site: siteOf(req, settings.fallbackHost), capabilities: offered(capabilitiesFromUserAgent(req.headers['user-agent']), settings.formats) };
  }

  /**
   * The headers a rewritten page (or its `HEAD`, or a `304` standing for it) goes out with: the origin's, less
   * what the rewrite changes, and its `Link` preloads of images marked as the page's own `<link>`s are.
   */
  function documentHeaders(rawHeaders: readonly string[], res: ServerResponse): string[] {
    return withClientHints(markLinkFields(rewrittenDocumentHeaders(rawHeaders, sharedCaches), () => linkContext(res)));
  }

  function linkContext(res: ServerResponse): { base: URL; marking: MarkingContext } {
    const marking = exchanges.get(res)?.marking ?? markingOf(res.req);
    return { base: documentUrlOf(res.req, marking), marking };
  }

  const links: LinkFieldMarker = (res, field) => {
    const { base, marking } = linkContext(res);
    return markLinkField(field, base, marking);
  };

  function beforeForward(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return;
    const h = req.headers;
    // SPEC §3: a page is rewritten and sent whole; a range of the origin's bytes cannot be spliced with rewritten
    // ones. Only for requests that may be for a page or stylesheet (see mayBeRewrittenDocument), and for any
    // resumption (`If-Range`) of a URL that may name one: its validator may be a rewritten page's (a rewritten page
    // keeps the origin's `Last-Modified`). Ranges of images, video and downloads go to the origin as they are.
    const resuming = h['if-range'] !== undefined && !neverADocument(req.url);
    if ((h.range !== undefined || h['if-range'] !== undefined) && (resuming || mayBeRewrittenDocument(req.url, h.accept))) {
      delete h.range;
      delete h['if-range'];
    }
    // A script, a font, media by their names: no page of ours to revalidate, nothing to prepare (the rare one that
    // is a page all the same is marked when its response says so: see `handle`).
    if (req.method !== 'GET' || neverADocument(req.url)) return;
    const marking = markingOf(req);
    // What the origin is sent, before our conditionals are added: a page is kept under what its origin saw. A field
    // the client's `Connection` names never reaches the origin, and must not key the page the origin sent without
    // it (RFC 9111 §4.1): else one client's `Connection: accept-language` filed the default page as the German one.
    const requestHeaders = requestHeadersForOrigin(h);
    // The client's own conditional or range request goes to the origin as it is; so does anything personal, and a
    // request that forbids keeping its response (`no-store`, RFC 9111 §5.2.1.5).
    const usable = cache && !h['if-none-match'] && !h['if-modified-since'] && !h.range && !h.authorization && !h.cookie && !headerTokens(h['cache-control']).includes('no-store');
    // The `Host` as the origin gets it, byte for byte, not as a URL parser normalises it: `x@victim.test` or
    // `vict%69m.test` name another virtual host to a server such as nginx, and must not share victim.test's pages.
    const cacheKey = usable ? [marking.site.protocol, h.host ?? '', req.url, markValue(marking.capabilities), h['accept-encoding'] ?? ''].join(' ') : undefined;
    const revalidating = cacheKey ? cache?.get(cacheKey, requestHeaders) : undefined;
    if (revalidating?.etag) h['if-none-match'] = revalidating.etag;
    else if (revalidating?.lastModified) h['if-modified-since'] = revalidating.lastModified;
    exchanges.set(res, { marking, cacheKey, requestHeaders, revalidating });
  }

  function serveCached(exchange: Exchange, entry: CachedDocument, originRes: IncomingMessage, res: ServerResponse, done: Parameters<ResponseHandler>[2]): void {
    originRes.resume();
    // A `304` naming another entity tag confirms nothing (RFC 9111 §4.3.4): the kept page goes once more with its
    // own headers (its own tag: a client revalidating with it is told the truth next time), and no more.
    const confirmed = confirmsStored(entry.etag, originRes.headers);
    const originHeaders = confirmed ? revalidatedHeaders(entry.originHeaders, originRes.rawHeaders) : entry.originHeaders;
    const vary = varyNames(headerValue(originHeaders, 'vary'));
    // A 304 that now says `Vary: *` (or names other headers) ends the entry: this answer is the last from it. So
    // does one that makes the page personal (`Set-Cookie`, `private`, `no-store`: its headers are this visitor's
    // alone, RFC 9111 §3.1, §4.3.4) or forbids the rewrite from now on (`no-transform`, RFC 9110 §7.7).
    const ends = !confirmed || vary === '*' || vary.join() !== (entry.vary ?? []).join() || personalResponse(originRes.headers) || forbidsTransform(originRes.headers);
    if (ends) cache?.delete(exchange.cacheKey!, exchange.requestHeaders);
    else cache?.set(exchange.cacheKey!, { ...entry, originHeaders }, exchange.requestHeaders);
    const headers = documentHeaders(originHeaders, res);
    headers.push('Content-Length', String(entry.body.length));
    res.writeHead(200, entry.statusMessage, headers);
    res.end(entry.body, () => done({ bytes: entry.body.length }));
  }

  /** Headers only: a `HEAD`, or a `304` that stands for a rewritten page. */
  function answerHeaders(originRes: IncomingMessage, res: ServerResponse, status: number, headers: string[], done: Parameters<ResponseHandler>[2]): void {
    originRes.resume();
    res.writeHead(status, originRes.statusMessage, headers);
    res.end(() => done({ bytes: 0 }));
  }

  const handle: ResponseHandler = (originRes, res, done) => {
    const req = res.req;
    const exchange = exchanges.get(res);
    if (exchange?.revalidating && exchange.cacheKey) {
      if (originRes.statusCode === 304) {
        serveCached(exchange, exchange.revalidating, originRes, res, done);
        return;
      }
      cache?.delete(exchange.cacheKey, exchange.requestHeaders);
    }
    if (originRes.statusCode === 304 && (req.method === 'GET' || req.method === 'HEAD') && notModifiedDocument(req.url, exchange?.requestHeaders ?? req.headers, originRes.headers)) {
      // As the `200` would have them, whatever the client's `If-None-Match` said: the origin's strong tag names
      // the origin's bytes, not the rewritten ones.
      answerHeaders(originRes, res, 304, documentHeaders(originRes.rawHeaders, res), done);
      return;
    }
    const document = rewritableDocument(req.method, originRes.statusCode, originRes.headers, settings.rewrite.maxBytes);
    if (document && req.method === 'HEAD') {
      // RFC 9110 §9.3.2: the headers GET would get. The origin's Content-Length counted bytes that GET rewrites.
      answerHeaders(originRes, res, 200, documentHeaders(originRes.rawHeaders, res), done);
      return;
    }
    if (!document || (!exchange && req.method !== 'GET')) {
      passThrough(originRes, res, done);
      return;
    }
    rewriteBody(document, exchange ?? { marking: markingOf(req), cacheKey: undefined, requestHeaders: req.headers, revalidating: undefined }, originRes, res, done);
  };

  function rewriteBody(document: RewritableDocument, exchange: Exchange, originRes: IncomingMessage, res: ServerResponse, done: Parameters<ResponseHandler>[2]): void {
    const { kind, coding } = document;
    const req = res.req;
    const { marking } = exchange;
    const documentUrl = documentUrlOf(req, marking);
    let compressed = 0;
    const rewriter =
      kind === 'html'
        ? htmlRewriteStream({ documentUrl, marking, lazyAttributes: settings.rewrite.lazyAttributes, charset: document.charset }, settings.rewrite.maxBytes, undefined, coding === 'identity' ? undefined : () => compressed)
        : cssRewriteStream(documentUrl, marking, Math.min(settings.rewrite.maxBytes, MAX_REWRITTEN_STYLESHEET), document.charset);
    const decoder = coding === 'identity' ? [] : lenientDecoder(coding);
    const encoder = encoderFor(coding);
    const keep = cache && exchange.cacheKey && keepableDocument(req.headers, originRes.headers) ? ([] as Buffer[]) : undefined;

    // The status line waits for the first bytes of the page: a body that cannot be decoded is then still a 502,
    // not a 200 that ends in nothing.
    const headers = documentHeaders(originRes.rawHeaders, res);
    let started = false;
    /** Whether the response is ours to write (not answered meanwhile by the proxy's error path). */
    const start = (): boolean => {
      if (started) return !res.destroyed;
      if (res.headersSent || res.destroyed) return false;
      started = true;
      res.writeHead(200, originRes.statusMessage, headers);
      return true;
    };
    let bytes = 0;
    /** Writes handed to the response and not yet to the connection: a cut page is all there before the abort. */
    let unflushed = 0;
    let allFlushed: (() => void) | undefined;
    const flushedOne = () => {
      unflushed -= 1;
      if (unflushed === 0) allFlushed?.();
    };
    const body = originBody(originRes, coding === 'identity' ? undefined : (chunk) => (compressed += chunk.length));
    const toClient = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (!start()) {
          callback(new Error('the response was answered or closed meanwhile'));
          return;
        }
        bytes += chunk.length;
        if (keep && cache && bytes <= cache.maxEntryBytes) keep.push(chunk);
        unflushed += 1;
        if (res.write(chunk, flushedOne)) callback();
        else res.once('drain', () => callback());
      },
      final(callback) {
        // The origin broke off: the status line and headers (nothing may have been sent yet: the page was short,
        // or held back by the rewriter) and what came of the page, rewritten as far as the rewriter could, go out,
        // as a browser shows what it got of such a page (a blank one if nothing); once they are on the connection
        // the response is aborted (see below), as it is when the origin breaks off later. The empty write flushes
        // the head, and completes after the writes before it.
        const cut = body.cut();
        if (!start()) {
          callback(new Error('the response was answered or closed meanwhile'));
          return;
        }
        if (cut) {
          unflushed += 1;
          allFlushed = () => callback(cut);
          res.write(Buffer.alloc(0), flushedOne);
          return;
        }
        // The origin's trailers go too (RFC 9110 §6.5), less those about its exact bytes (a digest of the
        // unrewritten page would be wrong), as they would on the page passed through.
        if (originRes.rawTrailers.length > 0) res.addTrailers(trailerPairs(originRes.rawTrailers, ABOUT_THE_BYTES));
        res.end(() => callback());
      },
    });
    const clientGone = () => {
      if (!res.writableFinished) toClient.destroy(new Error('client closed the connection'));
    };
    res.once('close', clientGone);

    const stages: Stage[] = [body.stream, ...decoder, rewriter];
    if (encoder) stages.push(encoder);
    pipeline([...stages, toClient], (err) => {
      res.off('close', clientGone);
      if (err) originRes.destroy();
      if (!err) {
        if (keep && cache && exchange.cacheKey && bytes <= cache.maxEntryBytes) {
          const vary = varyNames(originRes.headers.vary);
          cache.set(
            exchange.cacheKey,
            {
              originHeaders: originRes.rawHeaders,
              statusMessage: originRes.statusMessage ?? 'OK',
              body: Buffer.concat(keep),
              etag: originRes.headers.etag,
              lastModified: originRes.headers['last-modified'],
              vary: vary === '*' ? [] : vary,
            },
            exchange.requestHeaders,
          );
        }
        done({ bytes });
        return;
      }
      const undecodable = isDecodingError(err);
      if (undecodable) settings.metrics?.originFailures.inc({ reason: 'content-coding' });
      const error = undecodable ? new Error(`the origin's ${coding} body could not be decoded: ${err.message}`) : err;
      if (!started && !res.headersSent && !res.destroyed) {
        // Nothing sent yet: an error status the client can tell from a page (SPEC §3: never a blank one).
        const explanation = undecodable ? `the origin sent a page whose ${coding} content coding could not be decoded` : 'the origin closed the connection';
        done({ bytes: answerError(res, 502, explanation), error });
        return;
      }
      // Too late for an error status: cut the response so it cannot pass for a complete, shorter page.
      if (started) res.destroy(error);
      done({ bytes, error, ...(undecodable || body.cut() !== undefined ? { cause: 'origin' as const } : {}) });
    });
    // Streaming (SPEC §3): each rewritten piece leaves the compressor at once instead of waiting for its window.
    // Registered after the pipeline so that it runs after the piece has been written to the compressor.
    if (encoder) rewriter.on('data', () => encoder.flush(coding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH));
  }

  return { beforeForward, handle, links };
}

/**
 * The origin's body as far as it came: a stream that ends, instead of failing, where the origin broke off (its
 * connection closed before the Content-Length or the last chunk), so that the decoder and the rewriter give out
 * what they hold, as a browser shows the part of a page it got; `cut()` then says so. The bytes the origin's
 * response still held when it broke off go too (a pipe drops them). (A reset or a timeout also fails the request
 * to the origin: the proxy's error path answers first, and `start()` then finds the response taken.)
 */
function originBody(originRes: IncomingMessage, counted?: (chunk: Buffer) => void): { readonly stream: PassThrough; cut(): Error | undefined } {
  const stream = new PassThrough();
  let cut: Error | undefined;
  let failure: Error | undefined;
  if (counted) originRes.on('data', counted);
  originRes.on('error', (err) => (failure = err));
  originRes.once('close', () => {
    // Complete, or destroyed by us because the client went away or the body could not be decoded.
    if (originRes.complete || stream.destroyed || stream.writableEnded) return;
    cut = new Error(`the origin closed the connection before the end of the page${failure ? ` (${failure.message})` : ''}`);
    for (let chunk = originRes.read() as Buffer | null; chunk !== null; chunk = originRes.read() as Buffer | null) {
      counted?.(chunk);
      stream.write(chunk);
    }
    stream.end();
  });
  originRes.pipe(stream);
  return { stream, cut: () => cut };
}

/** Joined as text: a path such as `//other.example/x` is a path on this site, not a network-path reference. */
function documentUrlOf(req: IncomingMessage, marking: MarkingContext): URL {
  return new URL(marking.site.origin + (req.url ?? '/'));
}

/** A header's value in a raw list (repeats joined), as Node would give it. */
function headerValue(rawHeaders: readonly string[], name: string): string | undefined {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
  return values.length > 0 ? values.join(', ') : undefined;
}
