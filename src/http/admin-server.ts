import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Metrics } from '../observability/metrics.js';
import type { ImageStore } from '../store/image-store.js';
import type { StatusSource } from '../observability/status.js';
import { renderStatusPage } from '../observability/status-page.js';

/**
 * The admin listener (SPEC §8), apart from the public one: `/metrics` (Prometheus text), `/api/status` (JSON) and
 * `/status` (the page a site owner opens). Loopback by default; nothing here is reachable on the public port.
 */
/**
 * `experimentsIdle`: for `/api/idle`, which answers once no experiment is queued or running here (deploy scripts
 * draining an instance; tests of several instances as processes).
 */
export function createAdminServer(metrics: Metrics, status: StatusSource, store?: ImageStore, experimentsIdle?: () => Promise<void>): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'Method Not Allowed\n');
      return;
    }
    if (path === '/api/idle') {
      void (experimentsIdle?.() ?? Promise.resolve()).then(() => send(200, 'application/json', '{"idle":true}\n'));
      return;
    }
    if (path === '/metrics') {
      void metrics.registry.metrics().then((text) => send(200, metrics.registry.contentType, text), (err: Error) => send(500, 'text/plain', `${err.message}\n`));
      return;
    }
    if (path === '/api/status') {
      void status().then((snapshot) => send(200, 'application/json', `${JSON.stringify(snapshot, null, 2)}\n`));
      return;
    }
    if (path === '/image' && store) {
      // The status page's thumbnails: an original, or the smallest variant kept for it.
      const query = new URL(req.url ?? '/', 'http://admin/').searchParams;
      const original = store.getOriginal(query.get('url') ?? '');
      const best = original && query.get('which') === 'best' ? store.getVariant(original.url, query.get('mark') ?? '') : undefined;
      const bytes = best?.bytes ?? (original ? store.getOriginalBytes(original) : undefined);
      if (!original || !bytes) {
        send(404, 'text/plain; charset=utf-8', 'no such image\n');
        return;
      }
      res.writeHead(200, {
        'Content-Type': best?.record.contentType ?? original.contentType,
        'Content-Length': bytes.length,
        'Cache-Control': 'no-store',
        ...(best?.record.contentEncoding ? { 'Content-Encoding': best.record.contentEncoding } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : bytes);
      return;
    }
    if (path === '/status' || path === '/') {
      void status().then((snapshot) => send(200, 'text/html; charset=utf-8', renderStatusPage(snapshot)));
      return;
    }
    send(404, 'text/plain; charset=utf-8', 'Not Found: /status, /api/status, /api/idle, /metrics\n');
  });
}
