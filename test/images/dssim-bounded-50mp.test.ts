import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { experimentMemory, fromPixels, measureAgainst, prepareOriginal } from '../../src/images/original.js';
import { gradientImage } from '../support/dssim-bounded-images.js';

/** 50 MP within the default `max-image-area` (50,000,000 pixels; 8660×5774 is 2,840 over). */
const WIDTH = 8660;
const HEIGHT = 5773;
const LIMITS = { maxPixels: 50e6, maxFrames: 100 };
const BOUND = 2 ** 30;
const MB = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

/** Starts a new peak-RSS window (Linux: 5 → clear_refs resets VmHWM). */
function resetPeak(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}

function peakRss(): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
}

/** A 50 MP original as JPEG bytes, made without keeping its raw pixels around. */
async function originalJpeg(): Promise<Buffer> {
  const { width, height, data } = gradientImage(WIDTH, HEIGHT);
  return sharp(data, { raw: { width, height, channels: 4 } }).jpeg({ quality: 92 }).toBuffer();
}

describe('DSSIM of a 50 MP pair within max-experiment-memory (issue 16)', () => {
  it('measures a candidate with the original prepared, under 1 GiB in all', async (t) => {
    const bytes = await originalJpeg();
    const prepared = await prepareOriginal(bytes, LIMITS);
    assert.ok(prepared.ok, prepared.ok ? '' : prepared.reason);
    const { original } = prepared;
    const pixels = original.pixels.data.byteLength;
    assert.equal(pixels, 4 * WIDTH * HEIGHT);
    // The plan: the original's planes cannot be kept (37 bytes a pixel), so they are redone per candidate.
    const memory = experimentMemory(original.facts, LIMITS);
    assert.ok(memory.ok && memory.bytes <= BOUND, JSON.stringify(memory));
    assert.deepEqual(original.reference.plan.layout, { kind: 'strips', rows: 128, keep: false });
    assert.equal(original.reference.bytes, 0);
    const candidate = await fromPixels(original).jpeg({ quality: 60 }).toBuffer();

    resetPeak();
    const before = process.memoryUsage().rss;
    const value = await measureAgainst(original, candidate);
    const added = peakRss() - before;
    t.diagnostic(`DSSIM ${value}; the comparison (candidate decoded + DSSIM) added ${MB(added)} MB at its peak beside the original's ${MB(pixels)} MB of pixels; forecast ${MB(memory.bytes)} MB in all`);

    assert.ok(value > 1e-4 && value < 0.05, `a real difference: ${value}`);
    // What an experiment holds: the original's pixels, and what comparing adds (a candidate's pixels, DSSIM).
    assert.ok(pixels + added <= BOUND, `${MB(pixels + added)} MB`);
    // Whole-image planes would have added about 5 GB.
    assert.ok(added <= memory.bytes - pixels + 64 * 2 ** 20, `${MB(added)} MB added, ${MB(memory.bytes - pixels)} MB forecast`);
  });
});
