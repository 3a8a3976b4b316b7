import { escapeHtml } from './html-text.js';
import type { SavingsPoint } from './savings-history.js';

/** One chart of the savings history: how many periods end at the current one, and how its time axis is marked. */
export interface ChartSpan {
  /** What the chart shows, e.g. "Last 48 hours, per minute". */
  readonly title: string;
  readonly periodMs: number;
  readonly periods: number;
  /** A label on the time axis at every multiple of this (UTC). */
  readonly tickEveryMs: number;
  readonly tickLabel: (time: number) => string;
}

const WIDTH = 720;
const HEIGHT = 200;
const LEFT = 64;
const RIGHT = 8;
const TOP = 8;
const BOTTOM = 22;
const PLOT_WIDTH = WIDTH - LEFT - RIGHT;
const PLOT_HEIGHT = HEIGHT - TOP - BOTTOM;

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** Bytes in the largest unit (of 1024) that keeps the number at 1 or more: "512 B", "2.5 MB". */
export function byteText(bytes: number): string {
  let unit = 0;
  let value = bytes;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? Math.round(value) : Number(value.toFixed(1))} ${UNITS[unit]}`;
}

/** The top of the byte axis: the smallest 1, 2 or 5 × 10ⁿ of a unit of 1024 at or above `bytes` (so halves read well). */
export function axisTop(bytes: number): number {
  for (let unit = 1; ; unit *= 1024) {
    for (const step of [1, 2, 5, 10, 20, 50, 100, 200, 500]) if (step * unit >= bytes) return step * unit;
    if (unit >= 1024 ** 4) return Math.ceil(bytes);
  }
}

const sumOf = (point: SavingsPoint | undefined, side: 'original' | 'sent') => Object.values(point?.byOutcome ?? {}).reduce((sum, bytes) => sum + bytes[side], 0);

/**
 * `x,y` of each period's value, leaving out the inner points of runs of equal values (they lie on the line between
 * the run's ends): two days of minutes are 2880 periods, most of them often empty, and the page reloads every 10 s.
 */
function linePoints(values: readonly number[], x: (i: number) => number, y: (value: number) => number): string[] {
  const points: string[] = [];
  for (let i = 0; i < values.length; i += 1) {
    if (i > 0 && i < values.length - 1 && values[i] === values[i - 1] && values[i] === values[i + 1]) continue;
    points.push(`${x(i).toFixed(1)},${y(values[i]!).toFixed(1)}`);
  }
  return points;
}

/**
 * The bytes of each period as the origin has them and as sent, the saving between them shaded, with totals by
 * outcome below: an inline SVG drawn here (the page runs no script and loads nothing), the time axis in UTC.
 */
export function savingsChart(points: readonly SavingsPoint[], span: ChartSpan, now: number): string {
  const last = Math.floor(now / span.periodMs) * span.periodMs;
  const first = last - (span.periods - 1) * span.periodMs;
  const byStart = new Map(points.filter((point) => point.at >= first && point.at <= last).map((point) => [point.at, point]));
  const heading = `<h2>${escapeHtml(span.title)}</h2>`;
  if (byStart.size === 0) return `${heading}<p><small>No image answers in this time yet.</small></p>`;

  const original: number[] = [];
  const sent: number[] = [];
  const totals = new Map<string, { original: number; sent: number }>();
  // The period under way has no point until it is first sampled (a minute at its end): not drawn as a fall to 0.
  const drawn = byStart.has(last) ? span.periods : span.periods - 1;
  for (let i = 0; i < drawn; i += 1) {
    const point = byStart.get(first + i * span.periodMs);
    original.push(sumOf(point, 'original'));
    sent.push(sumOf(point, 'sent'));
    for (const [outcome, bytes] of Object.entries(point?.byOutcome ?? {})) {
      const total = totals.get(outcome) ?? { original: 0, sent: 0 };
      totals.set(outcome, { original: total.original + bytes.original, sent: total.sent + bytes.sent });
    }
  }
  const top = axisTop(Math.max(1, ...original, ...sent));
  const x = (i: number) => LEFT + ((i + 0.5) / span.periods) * PLOT_WIDTH;
  const y = (value: number) => TOP + PLOT_HEIGHT - (value / top) * PLOT_HEIGHT;
  const originLine = linePoints(original, x, y);
  const sentLine = linePoints(sent, x, y);

  const grid = [0, top / 2, top]
    .map((value) => `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="#ddd"/><text x="${LEFT - 6}" y="${(y(value) + 4).toFixed(1)}" font-size="11" text-anchor="end">${byteText(value)}</text>`)
    .join('');
  const ticks: string[] = [];
  for (let time = Math.ceil(first / span.tickEveryMs) * span.tickEveryMs; time <= last; time += span.tickEveryMs) {
    const tickX = LEFT + ((time - first) / span.periodMs / span.periods) * PLOT_WIDTH;
    ticks.push(`<line x1="${tickX.toFixed(1)}" x2="${tickX.toFixed(1)}" y1="${TOP}" y2="${TOP + PLOT_HEIGHT}" stroke="#eee"/><text x="${tickX.toFixed(1)}" y="${HEIGHT - 6}" font-size="11" text-anchor="middle">${escapeHtml(span.tickLabel(time))}</text>`);
  }

  const fromOrigin = original.reduce((a, b) => a + b, 0);
  const sentTotal = sent.reduce((a, b) => a + b, 0);
  const saved = fromOrigin - sentTotal;
  const share = fromOrigin > 0 ? ` (${((100 * saved) / fromOrigin).toFixed(1)}%)` : '';
  const label = `${span.title}: ${byteText(fromOrigin)} from the origin, ${byteText(sentTotal)} sent, ${byteText(saved)} saved`;
  const outcomes = [...totals]
    .sort(([, a], [, b]) => b.original - a.original)
    .map(([outcome, bytes]) => `${escapeHtml(outcome)} ${byteText(bytes.original)} → ${byteText(bytes.sent)}`)
    .join(' · ');
  return `${heading}<svg class="savings" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(label)}">
${ticks.join('')}${grid}
<polygon data-series="saved" fill="#2a7" fill-opacity="0.25" points="${[...originLine, ...[...sentLine].reverse()].join(' ')}"/>
<polyline data-series="origin" fill="none" stroke="#888" stroke-width="1.5" points="${originLine.join(' ')}"/>
<polyline data-series="sent" fill="none" stroke="#36c" stroke-width="1.5" points="${sentLine.join(' ')}"/>
</svg>
<p><small><span class="key origin"></span>from the origin ${byteText(fromOrigin)} · <span class="key sent"></span>sent ${byteText(sentTotal)} · <span class="key saved"></span>saved ${byteText(saved)}${share}<br>by outcome (from the origin → sent): ${outcomes}</small></p>`;
}
