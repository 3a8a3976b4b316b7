import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { axisTop, byteText } from '../../src/observability/savings-chart.js';
import type { SavingsHistoryView } from '../../src/observability/savings-history.js';
import { renderStatusPage, STATUS_PAGE_CSP } from '../../src/observability/status-page.js';
import type { StatusSnapshot } from '../../src/observability/status.js';

const NOW = Date.UTC(2026, 10, 22, 5, 0, 30);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const snapshot = (savings?: SavingsHistoryView): StatusSnapshot => ({
  generatedAt: new Date(NOW).toISOString(),
  uptimeSeconds: 60,
  images: { responses: { variant: 3 }, bytesOriginal: 4096, bytesSent: 1024, bytesSaved: 3072 },
  experiments: { jpeg: { kept: 1 } },
  queue: { waiting: 0, running: 0 },
  storeBytes: 5000,
  requests: {},
  ...(savings ? { savings } : {}),
});

/** The `points` of the element of a chart drawing `series`, as numbers. */
function seriesPoints(svg: string, series: string): [number, number][] {
  const points = new RegExp(`data-series="${series}"[^>]* points="([^"]*)"`).exec(svg)?.[1];
  assert.ok(points !== undefined, `${series} drawn`);
  return points.split(' ').map((pair) => pair.split(',').map(Number) as [number, number]);
}

const charts = (html: string) => [...html.matchAll(/<svg class="savings"[\s\S]*?<\/svg>/g)].map((m) => m[0]);

describe('the status page', () => {
  const thisMinute = Math.floor(NOW / MINUTE) * MINUTE;
  const thisHour = Math.floor(NOW / HOUR) * HOUR;
  const history: SavingsHistoryView = {
    minutes: [
      { at: thisMinute - 10 * MINUTE, byOutcome: { variant: { original: 2048, sent: 512 } } },
      { at: thisMinute, byOutcome: { variant: { original: 3072, sent: 512 }, skipped: { original: 1024, sent: 512 } } },
      // Older than the chart's 48 hours: not drawn.
      { at: thisMinute - 49 * HOUR, byOutcome: { variant: { original: 999_999, sent: 1 } } },
    ],
    hours: [
      { at: thisHour - 29 * 24 * HOUR, byOutcome: { variant: { original: 5 * 2 ** 20, sent: 2 ** 20 } } },
      { at: thisHour, byOutcome: { variant: { original: 5120, sent: 1024 }, skipped: { original: 1024, sent: 512 } } },
    ],
  };

  it('draws the history as two inline SVG charts: bytes from the origin and sent per minute and per hour, the saving between', () => {
    const html = renderStatusPage(snapshot(history));
    const [minutes, hours] = charts(html);
    assert.ok(minutes && hours, 'two charts');
    assert.match(html, /<h2>Last 48 hours, per minute<\/h2><svg/);
    assert.match(html, /<h2>Last 30 days, per hour<\/h2><svg/);

    // The minute chart: 2880 minutes across 648 px from x = 64, the byte axis up to 5 KB over 170 px from y = 178.
    const x = (minute: number) => 64 + ((minute + 0.5) / 2880) * 648;
    const y = (bytes: number) => 178 - (bytes / 5120) * 170;
    const origin = seriesPoints(minutes, 'origin');
    const sent = seriesPoints(minutes, 'sent');
    assert.deepEqual(origin.at(-1), [Number(x(2879).toFixed(1)), Number(y(4096).toFixed(1))], 'this minute: 4 KB from the origin');
    assert.deepEqual(sent.at(-1), [Number(x(2879).toFixed(1)), Number(y(1024).toFixed(1))], 'this minute: 1 KB sent');
    assert.ok(origin.some(([px, py]) => px === Number(x(2869).toFixed(1)) && py === Number(y(2048).toFixed(1))), 'ten minutes ago: 2 KB');
    assert.equal(Math.min(...origin.map(([, py]) => py)), Number(y(4096).toFixed(1)), 'the minute older than 48 hours is left out');
    // Runs of empty minutes are drawn by their ends only.
    assert.ok(origin.length < 20, `${origin.length} points`);
    assert.equal(seriesPoints(minutes, 'saved').length, origin.length + sent.length);
    for (const label of ['0 B', '2.5 KB', '5 KB']) assert.match(minutes, new RegExp(`text-anchor="end">${label}</text>`));
    assert.match(minutes, /aria-label="Last 48 hours, per minute: 6 KB from the origin, 1.5 KB sent, 4.5 KB saved"/);
    assert.match(html, /saved 4\.5 KB \(75\.0%\)<br>by outcome \(from the origin → sent\): variant 5 KB → 1 KB · skipped 1 KB → 512 B/);
    // Time marks every 12 hours (UTC).
    assert.match(minutes, />11-22 00:00<\/text>/);
    assert.match(minutes, />11-21 12:00<\/text>/);

    // The hour chart: the axis up to 5 MB, the month-old hour drawn at its place, this hour at the end.
    assert.match(hours, /text-anchor="end">5 MB<\/text>/);
    const hourX = (hour: number) => Number((64 + ((hour + 0.5) / 720) * 648).toFixed(1));
    const hourOrigin = seriesPoints(hours, 'origin');
    assert.ok(hourOrigin.some(([px, py]) => px === hourX(720 - 1 - 29 * 24) && py === 8), 'the hour 29 days ago, at the top of the axis');
    assert.equal(hourOrigin.at(-1)![0], hourX(719));
  });

  it('says when a chart has nothing to draw, and has no history section without a store', () => {
    const html = renderStatusPage(snapshot({ minutes: [], hours: history.hours }));
    assert.equal(charts(html).length, 1);
    assert.match(html, /<h2>Last 48 hours, per minute<\/h2><p><small>No image answers in this time yet/);
    assert.doesNotMatch(renderStatusPage(snapshot()), /Last 48 hours/);
    assert.match(renderStatusPage(snapshot()), /3\.0 KB saved \(75\.0% of image bytes\)/);
  });

  it('draws the period under way only once it has a point: until then it is unknown, not 0', () => {
    const [, hours] = charts(renderStatusPage(snapshot({ minutes: history.minutes, hours: history.hours.slice(0, 1) })));
    const lastX = Number((64 + (718.5 / 720) * 648).toFixed(1));
    assert.deepEqual(seriesPoints(hours!, 'origin').at(-1), [lastX, 178], 'the hour before this one, empty');
  });

  it('escapes the outcome names it shows', () => {
    const html = renderStatusPage(snapshot({ minutes: [{ at: Math.floor(NOW / MINUTE) * MINUTE, byOutcome: { '<b>x</b>': { original: 10, sent: 5 } } }], hours: [] }));
    assert.match(html, /&lt;b&gt;x&lt;\/b&gt; 10 B → 5 B/);
    assert.doesNotMatch(html, /<b>x<\/b>/);
  });

  it('loads nothing from outside and runs no script', () => {
    const html = renderStatusPage(snapshot(history));
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
    assert.doesNotMatch(html, /<script/);
    assert.match(STATUS_PAGE_CSP, /default-src 'none'/);
    assert.doesNotMatch(STATUS_PAGE_CSP, /script-src/);
  });

  it('labels the byte axis in B, KB, MB and GB, its top a round 1, 2 or 5 of a unit', () => {
    assert.deepEqual([0, 512, 1024, 1536, 5 * 2 ** 20, 3 * 2 ** 30].map(byteText), ['0 B', '512 B', '1 KB', '1.5 KB', '5 MB', '3 GB']);
    assert.deepEqual([1, 3, 700, 1000, 1025, 4096, 600 * 1024, 1.5 * 2 ** 30].map(axisTop), [1, 5, 1024, 1024, 2048, 5120, 1024 * 1024, 2 * 2 ** 30]);
  });
});
