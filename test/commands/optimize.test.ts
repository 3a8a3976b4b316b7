import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProxyToExit, PROJECT_ROOT } from '../support/proxy.js';

const img = (path: string) => fileURLToPath(new URL(`fixtures/site/img/${path}`, PROJECT_ROOT));

describe('slimproxy optimize', () => {
  it('prints a row per image and the totals, and writes the winners', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slimproxy-optimize-'));
    mkdirSync(join(dir, 'sub'));
    copyFileSync(img('photos/night-lights.jpg'), join(dir, 'night.jpg'));
    copyFileSync(img('drawings/chart-attendance.png'), join(dir, 'sub', 'chart.png'));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    writeFileSync(join(dir, 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    const out = join(dir, 'out');
    const { code, stdout } = await runProxyToExit(['optimize', dir, '--mark', 'ic,webp', '--out', out]);
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^image\s+original\s+best\s+saving\s+winner\s+quality\s+DSSIM\s+encodes\s+ms$/);
    assert.ok(lines.some((l) => /^night\.jpg\s+\d+\.\d KB\s+\d+\.\d KB\s+\d+\.\d%\s+(jpeg|webp)\s+\d+\s+0\.00\d+\s+\d+\s+\d+$/.test(l)), stdout);
    assert.ok(lines.some((l) => l.startsWith('sub/chart.png')), stdout);
    assert.ok(lines.some((l) => /^broken\.jpg .*skipped: /.test(l)), stdout);
    assert.ok(!stdout.includes('notes.txt'), 'files that are not images are left out');
    assert.match(lines.find((l) => l.startsWith('total'))!, /^total \(2 images\)/);
    assert.match(lines.at(-1)!, /^mark ic,webp, d 0\.002, quality 80; \d+ quality searches, \d\.\d\d encodes each on average$/);
    assert.ok(readdirSync(out).some((f) => f.startsWith('night.jpg.')), 'the winner was written');
  });

  it('refuses bad arguments with exit code 2', async () => {
    for (const args of [['optimize'], ['optimize', '.', '--mark', 'webp'], ['optimize', '.', '--preset', 'fast'], ['optimize', '/nonexistent']]) {
      const { code, stderr } = await runProxyToExit(args);
      assert.equal(code, 2, args.join(' '));
      assert.match(stderr, /^slimproxy optimize: /);
    }
  });
});
