import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { DssimReference } from '../../src/images/dssim.js';
import { decodeRgba } from '../../src/images/rgba.js';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));

describe('a conversion (WebP original, mark ic) made under other settings (hostile review of issue 17)', () => {
  let origin: TestOrigin;
  let webp: Buffer;
  const store = mkdtempSync(join(tmpdir(), 'review-store-'));
  before(async () => {
    webp = await sharp(photo).webp({ quality: 92 }).toBuffer();
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/webp', 'Cache-Control': 'max-age=3600' });
      res.end(webp);
    });
  });
  after(() => origin.close());

  it('is not served once d is stricter (d=0.004 → 0.001 on restart)', async () => {
    const lenient = await startProxy({ origin: origin.url, elements: `<store path="${store}" max-size="256MiB"/><image-compression preset="performance"/>` });
    let first;
    for (let i = 0; i < 5; i += 1) {
      first = await fetchRaw(new URL('/p.webp?m=ic', lenient.url));
      if (first.status === 200 && String(first.headers['x-slimproxy-image']).includes('transform')) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    await lenient.running.experimentsIdle();
    await lenient.stop(2000);
    assert.ok(first && String(first.headers['x-slimproxy-image']).includes('transform'), `conversion made: ${String(first?.headers['x-slimproxy-image'])}`);

    const strict = await startProxy({ origin: origin.url, elements: `<store path="${store}" max-size="256MiB"/><image-compression preset="quality"/>` });
    try {
      const answer = await fetchRaw(new URL('/p.webp?m=ic', strict.url));
      const reference = new DssimReference(await decodeRgba(webp));
      const measured = reference.compare(await decodeRgba(answer.body));
      assert.ok(measured <= 0.001, `served ${answer.headers['content-type']} at DSSIM ${measured.toFixed(5)} > d=0.001; X-Slimproxy-Image: ${String(answer.headers['x-slimproxy-image'])}`);
    } finally {
      await strict.stop(2000);
    }
  });
});
