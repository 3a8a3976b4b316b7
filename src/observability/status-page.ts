import { createHash } from 'node:crypto';
import { escapeHtml } from './html-text.js';
import { type ChartSpan, savingsChart } from './savings-chart.js';
import { HOUR_MS, KEPT_MS, MINUTE_MS, type SavingsHistoryView } from './savings-history.js';
import type { StatusSnapshot } from './status.js';

/** The page's one stylesheet, allowed by its hash in `STATUS_PAGE_CSP`. */
const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}th,td{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}.big{font-size:2em;font-weight:600}
.thumb{max-width:160px;max-height:100px;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px}
.savings{max-width:100%;height:auto}.key{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .2em;vertical-align:-.05em}
.key.origin{background:#888}.key.sent{background:#36c}.key.saved{background:#2a7;opacity:.4}`;

/**
 * The page's Content-Security-Policy: what it loads and nothing more. Its one stylesheet by hash (CSP3 hash-source:
 * no 'unsafe-inline', so text that slipped past `escape` could not style the page either), thumbnails from this
 * listener's `/image`, the `data:` favicon; no script at all (the page refreshes by `<meta>`, which CSP does not
 * govern), no `<base>`, no form.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const escape = escapeHtml;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

function table(rows: [string, string][]): string {
  return `<table>${rows.map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`).join('')}</table>`;
}

/** `/status`: one server-rendered page, no outside resources, refreshing itself. */
export function renderStatusPage(status: StatusSnapshot): string {
  const saved = status.images.bytesOriginal > 0 ? (100 * status.images.bytesSaved) / status.images.bytesOriginal : 0;
  const experiments = Object.entries(status.experiments).map(([name, outcomes]): [string, string] => [
    name,
    Object.entries(outcomes).map(([outcome, count]) => `${outcome} ${count}`).join(', '),
  ]);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10"><title>slimproxy status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head><body>
<h1>slimproxy</h1>
<p class="big">${escape(kb(status.images.bytesSaved))} saved (${saved.toFixed(1)}% of image bytes) <small>since the proxy started</small></p>
${status.savings ? savingsSection(status.savings, Date.parse(status.generatedAt)) : ''}
<h2>Images sent</h2>${table([
    ['original bytes', kb(status.images.bytesOriginal)],
    ['bytes sent', kb(status.images.bytesSent)],
    ...Object.entries(status.images.responses).map(([k, v]): [string, string] => [k, String(v)]),
  ])}
<h2>Experiments</h2>${experiments.length ? table(experiments) : '<p>none yet</p>'}
${status.store ? imagesSection(status.store) : ''}
<h2>Queue and store</h2>${table([
    ['waiting', String(status.queue.waiting)],
    ['running', String(status.queue.running)],
    ['store', kb(status.storeBytes)],
    ...(status.cluster ? [['cluster', status.cluster.connected ? 'joined (Redis available)' : 'local-only: Redis unavailable']] as [string, string][] : []),
  ])}
<p><small>${escape(status.generatedAt)} · up ${status.uptimeSeconds} s · <a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a></small></p>
</body></html>
`;
}

/** What the admin `/image` route shows (it refuses SVG and other documents): only those get a thumbnail. */
const RASTER = new Set(['jpeg', 'png', 'gif', 'webp', 'avif']);

function imagesSection(images: NonNullable<StatusSnapshot['store']>): string {
  const states = table(Object.entries(images.states).map(([k, v]): [string, string] => [k, String(v)]));
  const reasons = Object.entries(images.skipReasons);
  const thumb = (url: string, which: string, variant = '') =>
    `<img src="/image?url=${encodeURIComponent(url)}&amp;which=${which}${variant ? `&amp;variant=${encodeURIComponent(variant)}` : ''}" class="thumb" alt="">`;
  const rows = images.top
    .map((image) => {
      const best = image.best;
      const saving = best ? `${((100 * (image.originalBytes - best.bytes)) / image.originalBytes).toFixed(0)}%` : '';
      return `<tr><td>${escape(image.url)}<br><small>${image.requests} requests · ${escape(image.state)}</small></td><td>${RASTER.has(image.type) ? `${thumb(image.url, 'original')}<br>` : ''}<small>${escape(image.type)} ${kb(image.originalBytes)}</small></td><td>${best ? `${thumb(image.url, 'best', best.variant)}<br><small>${escape(best.experiment === best.format ? best.format : `${best.experiment} → ${best.format}`)}${best.quality === undefined ? '' : ` q${best.quality}`} · DSSIM ${best.dssim.toFixed(5)} · ${kb(best.bytes)} (−${saving})</small>` : '<small>no better version yet</small>'}</td></tr>`;
    })
    .join('');
  return `<h2>Images by state</h2>${states}${reasons.length ? `<p>Skipped: ${reasons.map(([k, v]) => `${escape(k)} ${v}`).join(', ')}</p>` : ''}
<h2>Most requested</h2>${rows ? `<table><tr><th>image</th><th>original</th><th>best</th></tr>${rows}</table>` : '<p>none yet</p>'}`;
}

/** The savings history: two days by the minute, thirty by the hour. */
const SPANS: readonly { readonly which: 'minutes' | 'hours'; readonly span: ChartSpan }[] = [
  { which: 'minutes', span: { title: 'Last 48 hours, per minute', periodMs: MINUTE_MS, periods: KEPT_MS.minute / MINUTE_MS, tickEveryMs: 12 * HOUR_MS, tickLabel: (time) => new Date(time).toISOString().slice(5, 16).replace('T', ' ') } },
  { which: 'hours', span: { title: 'Last 30 days, per hour', periodMs: HOUR_MS, periods: KEPT_MS.hour / HOUR_MS, tickEveryMs: 5 * 24 * HOUR_MS, tickLabel: (time) => new Date(time).toISOString().slice(5, 10) } },
];

function savingsSection(history: SavingsHistoryView, now: number): string {
  return `${SPANS.map(({ which, span }) => savingsChart(history[which], span, now)).join('\n')}
<p><small>Times in UTC. The history is kept in the store: it survives restarts, and goes with the store.</small></p>`;
}
