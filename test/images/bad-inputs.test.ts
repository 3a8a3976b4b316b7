import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { prepareOriginal } from '../../src/images/original.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const LIMITS = { maxPixels: 50e6, maxFrames: 100 };
const fixture = (path: string) => readFileSync(new URL(`fixtures/${path}`, PROJECT_ROOT));
const site = (path: string) => fixture(`site/img/${path}`);

describe('bad inputs give reasons, never exceptions', () => {
  it('truncated JPEG, corrupt PNG, HTML, decompression bomb, empty file, animation over the frame limit', async () => {
    const jpeg = site('earth.jpg');
    const png = Buffer.from(site('drawings/chart-attendance.png'));
    png.writeUInt32BE(png.readUInt32BE(29) ^ 0xffff, 29); // the IHDR chunk's CRC
    const cases: [string, Buffer, RegExp, { maxPixels: number; maxFrames: number }?][] = [
      ['truncated JPEG', jpeg.subarray(0, Math.floor(jpeg.length / 2)), /truncated JPEG|decode failed/],
      ['PNG with a bad CRC', png, /bad CRC|cannot read the png header|decode failed/],
      ['HTML named .jpg', Buffer.from('<!DOCTYPE html><html><body>Not Found</body></html>'), /not an image/],
      ['30000×30000 PNG bomb', fixture('bad/bomb-30000x30000.png'), /maximum image area/],
      ['0-byte file', Buffer.alloc(0), /empty/],
      ['animated GIF over the frame limit', site('icons/new.gif'), /frame limit/, { maxPixels: 50e6, maxFrames: 3 }],
    ];
    for (const [what, bytes, reason, limits] of cases) {
      const prepared = await prepareOriginal(bytes, limits ?? LIMITS);
      assert.ok(!prepared.ok, what);
      assert.match(prepared.reason, reason, what);
    }
    // Nothing was decoded at full size: the process (test runner, sharp and all) stays small.
    const rss = process.memoryUsage().rss;
    assert.ok(rss < 300 * 1024 * 1024, `RSS ${(rss / 1048576).toFixed(0)} MB`);
  });
});
