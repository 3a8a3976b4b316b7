import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { sniffImageType } from '../images/probe.js';
import type { Metrics } from '../observability/metrics.js';
import type { ImageStore } from '../store/image-store.js';
import type { StatusSource } from '../observability/status.js';
import { renderStatusPage, STATUS_PAGE_CSP } from '../observability/status-page.js';

/**
 * What the admin listener sends from the store is inert (SPEC §8): whatever the origin sent, opened on its own it
 * runs nothing in this origin. `sandbox` gives it an opaque origin with scripts off; `img-src data:` lets a ZorroSVG
 * opened on its own draw the JPEG and mask it inlines (as an `<img>` it needs no policy). Text and JSON answers get
 * the same policy: none of them needs anything.
 */
const INERT_CSP = "sandbox; default-src 'none'; img-src data:";

/** On every admin response: a browser takes the `Content-Type` as sent, never what it guesses from the bytes. */
const NOSNIFF = { 'X-Content-Type-Options': 'nosniff' } as const;

/** A stored image the admin listener shows, with the type its bytes say, or why it does not. */
type AdminImage =
  | { readonly ok: true; readonly bytes: Buffer; readonly contentType: string; readonly contentEncoding?: 'gzip' }
  | { readonly ok: false; readonly reason: string };

/**
 * `/image?url=…&which=best&variant=…`: the status page's thumbnails, an original or a variant kept for it (by its
 * slot in the store: the smallest outcome's, as the status lists it).
 * Only raster images by their magic bytes (a stored `Content-Type` is the origin's word), and ZorroSVG variants,
 * which the proxy wrote itself: an SVG original may hold a script, and is never sent from here.
 */
async function adminImage(store: ImageStore, query: URLSearchParams): Promise<AdminImage> {
  const original = store.getOriginal(query.get('url') ?? '');
  if (!original) return { ok: false, reason: 'no such image' };
  const best = query.get('which') === 'best' ? await store.getVariant(original.url, query.get('variant') ?? '') : undefined;
  if (best?.record.contentEncoding === 'gzip') return { ok: true, bytes: best.bytes, contentType: 'image/svg+xml', contentEncoding: 'gzip' };
  const bytes = best?.bytes ?? (await store.getOriginalBytes(original));
  if (!bytes) return { ok: false, reason: 'no such image' };
  const type = sniffImageType(bytes);
  if (type === undefined || type === 'svg') return { ok: false, reason: 'not shown: not a raster image' };
  return { ok: true, bytes, contentType: `image/${type}` };
}

/**
 * Which `Host` fields the admin listener answers: an IP address, `localhost` (and names under `.localhost`), the
 * machine's own name, and the names `<admin hosts>` adds (`*`: any). Someone who reaches the listener on purpose
 * (a browser on the machine, curl, a tunnel, a scraper) names it so; a web page that makes a browser ask for it
 * by a DNS name it rebound to the listener's address sends that name and is refused: the status of the site and
 * the store's images are not a page's to read (DNS rebinding), on loopback or on an internal network alike.
 */
export function adminHostRule(configured: readonly string[], machine: string = hostname()): (host: string | undefined) => boolean {
  if (configured.includes('*')) return () => true;
  const own = machine.toLowerCase();
  const names = new Set([...configured, own, own.split('.')[0]!].filter((name) => name !== ''));
  return (host) => {
    if (host === undefined) return true;
    const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(host);
    if (host.startsWith('[') && !bracketed) return false;
    const name = (bracketed ? bracketed[1]! : host.replace(/:\d*$/, '')).toLowerCase().replace(/\.$/, '');
    return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || names.has(name);
  };
}

/** A request target in absolute form (`http://host/path`), parsed; `undefined` for any other form. */
function absoluteTarget(url: string | undefined): URL | undefined {
  if (!url || !/^https?:\/\//i.test(url)) return undefined;
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/**
 * The admin listener (SPEC §8), apart from the public one: `/metrics` (Prometheus text), `/api/status` (JSON) and
 * `/status` (the page a site owner opens). Loopback by default; nothing here is reachable on the public port.
 * `experimentsIdle`: for `/api/idle`, which answers once no experiment is queued or running here (deploy scripts
 * draining an instance; tests of several instances as processes). `answersHost`: see `adminHostRule`.
 */
export function createAdminServer(
  metrics: Metrics,
  status: StatusSource,
  storeNow?: () => ImageStore | undefined,
  experimentsIdle?: () => Promise<void>,
  answersHost: (host: string | undefined) => boolean = adminHostRule([]),
): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (code: number, type: string, body: string, policy = INERT_CSP) => {
      res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body), 'Content-Security-Policy': policy, ...NOSNIFF });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    // An absolute-form target names the host itself, and its Host field is ignored (RFC 9112 §3.2.2).
    const target = absoluteTarget(req.url);
    if (target) req.url = `${target.pathname}${target.search}`;
    if (!answersHost(target ? target.host : req.headers.host)) {
      send(421, 'text/plain; charset=utf-8', 'Misdirected Request: the admin listener answers requests for an IP address, localhost, this machine\'s name or a name listed in <admin hosts="…">\n');
      return;
    }
    // Whatever fails in a page of the admin listener is that page's 500, never an unhandled rejection.
    answer(req, res, send).catch((err: Error) => {
      if (res.headersSent) res.destroy();
      else send(500, 'text/plain; charset=utf-8', `${err.message}\n`);
    });
  });

  async function answer(req: IncomingMessage, res: ServerResponse, send: (code: number, type: string, body: string, policy?: string) => void): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'Method Not Allowed\n');
      return;
    }
    if (path === '/api/idle') {
      await experimentsIdle?.();
      send(200, 'application/json', '{"idle":true}\n');
      return;
    }
    if (path === '/metrics') {
      send(200, metrics.registry.contentType, await metrics.registry.metrics());
      return;
    }
    if (path === '/api/status') {
      // Compact: at its bound the savings history is 3,600 points, 1.7 MB indented and under half of that without.
      send(200, 'application/json', `${JSON.stringify(await status())}\n`);
      return;
    }
    const store = storeNow?.();
    if (path === '/image' && store) {
      const image = await adminImage(store, new URL(req.url ?? '/', 'http://admin/').searchParams);
      if (!image.ok) {
        send(404, 'text/plain; charset=utf-8', `${image.reason}\n`);
        return;
      }
      res.writeHead(200, {
        'Content-Type': image.contentType,
        'Content-Length': image.bytes.length,
        'Cache-Control': 'no-store',
        'Content-Security-Policy': INERT_CSP,
        ...NOSNIFF,
        ...(image.contentEncoding ? { 'Content-Encoding': image.contentEncoding } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : image.bytes);
      return;
    }
    if (path === '/status' || path === '/') {
      send(200, 'text/html; charset=utf-8', renderStatusPage(await status()), STATUS_PAGE_CSP);
      return;
    }
    send(404, 'text/plain; charset=utf-8', 'Not Found: /status, /api/status, /api/idle, /metrics\n');
  }
}
