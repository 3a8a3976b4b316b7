import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { pipeline, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { type Capabilities, capabilitiesFromUserAgent } from '../client/index.js';
import type { Config, ModernFormat } from '../config/index.js';
import type { ResponseHandler } from '../proxy/origin-proxy.js';
import { passThrough } from '../proxy/pass-through.js';
import { cssRewriteStream, htmlRewriteStream, type MarkingContext } from '../rewrite/index.js';
import { type ContentCoding, rewritableDocument, rewrittenDocumentHeaders } from './document-headers.js';

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
}

/**
 * SPEC §3/§4 on the way out: HTML and CSS documents go through the rewriters (decoded and re-encoded with their
 * content coding), everything else passes through untouched.
 */
export function createRewriteHandler(settings: RewriteSettings): ResponseHandler {
  return (originRes, res: ServerResponse, done) => {
    const req = res.req;
    const document = rewritableDocument(req.method, originRes.statusCode, originRes.headers, settings.rewrite.maxBytes);
    if (!document) {
      passThrough(originRes, res, done);
      return;
    }
    const marking: MarkingContext = {
      site: siteOf(req, settings.fallbackHost),
      capabilities: offered(capabilitiesFromUserAgent(req.headers['user-agent']), settings.formats),
    };
    const documentUrl = new URL(req.url ?? '/', marking.site);
    const rewriter =
      document.kind === 'html'
        ? htmlRewriteStream({ documentUrl, marking, lazyAttributes: settings.rewrite.lazyAttributes }, settings.rewrite.maxBytes)
        : cssRewriteStream(documentUrl, marking, settings.rewrite.maxBytes);
    const decoder = decoderFor(document.coding);
    const encoder = encoderFor(document.coding);

    res.writeHead(originRes.statusCode ?? 200, originRes.statusMessage, rewrittenDocumentHeaders(originRes.rawHeaders));
    const last = encoder ?? rewriter;
    let bytes = 0;
    const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [originRes];
    if (decoder) stages.push(decoder);
    stages.push(rewriter);
    if (encoder) stages.push(encoder);
    pipeline([...stages, res], (err) => {
      if (err) res.destroy(err);
      done(err ? { bytes, error: err } : { bytes });
    });
    last.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    // Streaming (SPEC §3): each rewritten piece leaves the compressor at once instead of waiting for its window.
    if (encoder) rewriter.on('data', () => encoder.flush(document.coding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH));
  };
}
