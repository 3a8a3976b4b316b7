import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { animationBombGif, badCrcPng, decompressionBombPng, pngChunk, zeroedTablesJpeg } from '../support/bad-images.js';
import { apng, exifBlock, jpegWithExif, png, u32 } from '../support/rendering-images.js';
import { fetchRaw } from '../support/client.js';
import { servingFiles, startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));
const chart = readFileSync(new URL('fixtures/site/img/drawings/chart-attendance.png', PROJECT_ROOT));

/** Every mark the rewriters write, and no mark (an image optimised in place by its Accept header). */
const MARKS = ['ic', 'ic,webp', 'ic,avif', 'ic,zorro', 'ic,webp,avif', 'ic,webp,zorro', 'ic,avif,zorro', 'ic,webp,avif,zorro', undefined];
const ROUNDS = 6;

describe('broken images: the origin’s bytes, a one-line reason, never a 502 (issue 16, acceptance 2)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  const corpus: Record<string, readonly [string, Buffer]> = {};
  before(async () => {
    const truncatedGif = await sharp(photo, { animated: false }).resize(64).gif().toBuffer();
    const avif = await sharp(photo).resize(400).avif().toBuffer();
    const webp = await sharp(photo).resize(400).webp().toBuffer();
    Object.assign(corpus, {
      '/truncated.jpg': ['image/jpeg', photo.subarray(0, Math.floor(photo.length * 0.6))],
      '/truncated.png': ['image/png', chart.subarray(0, Math.floor(chart.length * 0.6))],
      '/truncated.gif': ['image/gif', truncatedGif.subarray(0, Math.floor(truncatedGif.length * 0.6))],
      // Found by the hostile review: a cut AVIF went out with no reason at all.
      '/truncated.avif': ['image/avif', avif.subarray(0, Math.floor(avif.length * 0.6))],
      '/truncated.webp': ['image/webp', webp.subarray(0, Math.floor(webp.length * 0.6))],
      '/zeroed-tables.jpg': ['image/jpeg', zeroedTablesJpeg(photo)],
      '/bad-crc.png': ['image/png', badCrcPng(chart)],
      '/wrong-magic.png': ['image/png', Buffer.concat([Buffer.from([0x88]), chart.subarray(1)])],
      '/html.jpg': ['image/jpeg', Buffer.from('<!DOCTYPE html><html><body><h1>Not found</h1></body></html>\n')],
      '/empty.png': ['image/png', Buffer.alloc(0)],
      '/animation-bomb.gif': ['image/gif', animationBombGif(7000, 300)],
      '/decompression-bomb.png': ['image/png', decompressionBombPng(30_000, 30_000)],
      // Found by the fidelity review: whole images whose look a variant would not keep (see rendering-facts.test).
      '/animated.png': ['image/png', apng()],
      '/gamma.png': ['image/png', png([pngChunk('gAMA', u32(100000))])],
      '/cmyk.jpg': ['image/jpeg', await sharp(photo).resize(200).toColourspace('cmyk').jpeg().toBuffer()],
      '/at-144-dpi.jpg': ['image/jpeg', await jpegWithExif(exifBlock(144, 2, { width: 96, height: 64 }))],
      '/turned.webp': ['image/webp', await sharp(photo).resize(200).webp().withMetadata({ orientation: 6 }).toBuffer()],
    });
    origin = await startOrigin(servingFiles(corpus));
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop();
    await origin.close();
  });

  it('each requested 6 times under every mark: the origin’s bytes, a one-line X-Slimproxy-Skip, and the proxy alive after the experiments', async () => {
    const skipped = new Map<string, string>();
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [path, [, bytes]] of Object.entries(corpus)) {
        for (const mark of MARKS) {
          const url = new URL(mark ? `${path}?m=${mark}` : path, proxy.url);
          const res = await fetchRaw(url, { headers: { Accept: 'image/avif,image/webp,image/*,*/*;q=0.8' } });
          const where = `${path} ${mark ?? '(in place)'} round ${round + 1}`;
          assert.equal(res.status, 200, where);
          assert.ok(res.body.equals(bytes), `${where}: the origin's bytes (${res.body.length} of ${bytes.length})`);
          const skip = res.headers['x-slimproxy-skip'];
          assert.equal(typeof skip, 'string', `${where}: says why it is passed through`);
          assert.match(String(skip), /^[\x20-\x7e]{1,300}$/, `${where}: one printable line`);
          skipped.set(path, String(skip));
        }
      }
      await proxy.running.experimentsIdle();
    }
    assert.equal(skipped.size, Object.keys(corpus).length);
    // The reasons name the fault (examples; the multi-line libvips message of the zeroed tables made one line).
    assert.match(skipped.get('/truncated.jpg')!, /truncated JPEG/);
    assert.match(skipped.get('/bad-crc.png')!, /bad CRC/);
    assert.match(skipped.get('/truncated.avif')!, /truncated AVIF/);
    assert.match(skipped.get('/truncated.gif')!, /truncated GIF/);
    assert.match(skipped.get('/animation-bomb.gif')!, /7000x7000 x 300 frames/);
    assert.match(skipped.get('/decompression-bomb.png')!, /maximum image area/);
    assert.match(skipped.get('/zeroed-tables.jpg')!, /Bogus marker length VipsJpeg/);
    assert.match(skipped.get('/animated.png')!, /APNG/);
    assert.match(skipped.get('/gamma.png')!, /gAMA/);
    assert.match(skipped.get('/cmyk.jpg')!, /CMYK/);
    assert.match(skipped.get('/at-144-dpi.jpg')!, /96x64/);
    assert.match(skipped.get('/turned.webp')!, /orientation 6/);
    const health = await fetchRaw(new URL('/.slimproxy/health', proxy.url));
    assert.equal(health.status, 200);
    assert.equal(proxy.logs.filter((line) => line.status === 502).length, 0, 'no 502 logged');
  });
});
