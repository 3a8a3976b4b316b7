import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderStatusPage } from '../../src/observability/status-page.js';
import type { StatusSnapshot } from '../../src/observability/status.js';

const snapshot = (history: [number, number][]): StatusSnapshot => ({
  generatedAt: '2026-11-22T05:00:00.000Z',
  uptimeSeconds: 60,
  images: { responses: { variant: 3 }, bytesOriginal: 4096, bytesSent: 1024, bytesSaved: 3072 },
  experiments: { jpeg: { kept: 1 } },
  queue: { waiting: 0, running: 0 },
  storeBytes: 5000,
  requests: {},
  savedHistory: history,
});

describe('the status page', () => {
  it('draws bytes saved over time as an inline SVG line', () => {
    const html = renderStatusPage(snapshot([[0, 0], [30_000, 1024], [60_000, 3072]]));
    assert.match(html, /<svg [^>]*aria-label="bytes saved over time"/);
    assert.match(html, /<polyline fill="none" stroke="#2a7" stroke-width="2" points="0\.0,120\.0 300\.0,80\.0 600\.0,0\.0"\/>/);
    assert.match(html, /3\.0 KB saved \(75\.0% of image bytes\)/);
  });

  it('says the chart fills in while there is one point only', () => {
    assert.match(renderStatusPage(snapshot([[0, 0]])), /fills in while this page stays open/);
  });

  it('loads nothing from outside', () => {
    assert.doesNotMatch(renderStatusPage(snapshot([[0, 0], [1, 1]])), /(src|href)="(https?:)?\/\//);
  });
});
