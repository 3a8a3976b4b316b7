import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { dssim } from '../../src/images/dssim.js';
import { type EngineSettings, wireSize } from '../../src/images/experiment.js';
import { optimizeAll } from '../../src/images/optimize.js';
import { type Original, prepareOriginal } from '../../src/images/original.js';
import { EXPERIMENTS, planFor } from '../../src/images/plan.js';
import { decodeRgba, type RgbaImage } from '../../src/images/rgba.js';
import { AVIF_ALPHA_REJECTED, encodeAvif } from '../../src/images/experiments/avif.js';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../support/proxy.js';

const SETTINGS: EngineSettings = { d: 0.002, quality: 80, minQuality: 20, maxQuality: 95, aiqaAll: true, losslessPng: false, avifEffort: 4 };
const LIMITS = { maxPixels: 50e6, maxFrames: 100 };
const ALL = { webp: true, avif: true, zorro: true };
const site = (path: string) => readFileSync(new URL(`fixtures/site/img/${path}`, PROJECT_ROOT));

/** The frames of an animation decoded as one strip; a still image is its own one frame. */
function frames(strip: RgbaImage, count: number): RgbaImage[] {
  const height = strip.height / count;
  const size = strip.width * height * 4;
  return Array.from({ length: count }, (_, i) => ({ width: strip.width, height, data: strip.data.subarray(i * size, (i + 1) * size) }));
}

async function original(path: string): Promise<Original> {
  const prepared = await prepareOriginal(site(path), LIMITS);
  assert.ok(prepared.ok, path);
  return prepared.original;
}

describe('the plan of SPEC §6', () => {
  const plan = (type: 'jpeg' | 'png' | 'gif' | 'webp', transparent: boolean, frames = 1, mark = ALL, losslessPng = false, aiqaAll = true) =>
    planFor({ type, transparent, frames }, mark, { losslessPng, aiqaAll });
  it('orders the experiments per input, as the table says', () => {
    // Most of the saving first (issue 17): what the mark allows that gives the smallest bytes.
    assert.deepEqual(plan('jpeg', false), ['avif', 'webp']);
    assert.deepEqual(plan('png', false), ['avif', 'webp', 'png-palette', 'png-lossless', 'webp-lossless']);
    assert.deepEqual(plan('png', true), ['webp', 'avif', 'png-palette', 'png-lossless', 'webp-lossless']);
    assert.deepEqual(plan('gif', false), ['avif', 'webp', 'png-palette', 'png-lossless', 'webp-lossless']);
    // Lossless first for animations too (a deviation from SPEC §6's table): a GIF's hard edges rarely survive lossy WebP under d.
    assert.deepEqual(plan('gif', true, 8), ['webp-lossless', 'webp-animated']);
    assert.deepEqual(plan('webp', false), ['avif', 'webp-reencode']);
  });
  it('runs JPEG only for marks without WebP, where WebP is searched under d too', () => {
    const webpOnly = { webp: true, avif: false, zorro: false };
    assert.deepEqual(plan('jpeg', false, 1, webpOnly), ['webp']);
    assert.deepEqual(plan('jpeg', false, 1, ALL, false, false), ['avif', 'webp', 'jpeg']);
    assert.deepEqual(plan('png', false, 1, ALL, false, false), ['avif', 'webp', 'png-palette', 'jpeg-from-png', 'png-lossless', 'webp-lossless']);
  });
  it('keeps only what the mark allows', () => {
    const none = { webp: false, avif: false, zorro: false };
    assert.deepEqual(plan('jpeg', false, 1, none), ['jpeg']);
    assert.deepEqual(plan('png', true, 1, none), ['png-palette', 'png-lossless']);
    assert.deepEqual(plan('png', true, 1, { ...none, zorro: true }), ['png-palette', 'zorro', 'png-lossless']);
    assert.deepEqual(plan('gif', true, 8, none), []);
  });
  it('runs ZorroSVG only for a mark with neither WebP nor AVIF (issue 17)', () => {
    const none = { webp: false, avif: false, zorro: false };
    assert.ok(plan('png', true, 1, { ...none, zorro: true }).includes('zorro'));
    assert.ok(!plan('png', true, 1, { ...none, zorro: true, webp: true }).includes('zorro'));
    assert.ok(!plan('png', true, 1, { ...none, zorro: true, avif: true }).includes('zorro'));
    assert.ok(!plan('png', true, 1, ALL).includes('zorro'));
  });
  it('never makes a PNG lossy with lossless-png', () => {
    assert.deepEqual(plan('png', true, 1, ALL, true), ['png-lossless', 'webp-lossless']);
  });
});

/** A prepared original from encoded bytes. */
async function originalOf(bytes: Buffer): Promise<Original> {
  const prepared = await prepareOriginal(bytes, LIMITS);
  assert.ok(prepared.ok);
  return prepared.original;
}

describe('lossless PNG drops what the pixels do not use (issue 17)', () => {
  it('a grey image stored as RGB comes out greyscale, identical and smaller', async () => {
    // A real texture, made grey but written with three channels (as many old sites' PNGs are).
    const grey = await sharp(site('bg/brick.png')).greyscale().toColourspace('srgb').png().toBuffer();
    assert.equal((await sharp(grey).metadata()).channels, 3);
    const source = await originalOf(grey);
    const truecolour = await sharp(source.pixels.data, { raw: { width: source.pixels.width, height: source.pixels.height, channels: 4 } }).removeAlpha().png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer();
    const outcome = await EXPERIMENTS['png-lossless'].run(source, SETTINGS);
    assert.ok(outcome.ok);
    const meta = await sharp(outcome.variant.bytes).metadata();
    assert.ok(meta.channels === 1 || meta.isPalette, `greyscale or palette, not RGB: ${meta.channels} channels`);
    assert.ok(outcome.variant.bytes.length < truecolour.length, `${outcome.variant.bytes.length} < ${truecolour.length}`);
    assert.equal(dssim(source.pixels, await decodeRgba(outcome.variant.bytes)), 0);
  });

  it('an image of few colours gets an exact palette at the fewest bits, identical; a photo stays truecolour', async () => {
    // Eleven colours in bands, with a transparent margin: 4 bits per pixel hold them.
    const width = 240;
    const height = 160;
    const data = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const at = (y * width + x) * 4;
        if (x < 10) continue;
        const band = Math.floor(x / 24);
        data.set([band * 23, 255 - band * 20, (band * 70) % 256, 255], at);
      }
    }
    const truecolour = await sharp(data, { raw: { width, height, channels: 4 } }).png({ compressionLevel: 9 }).toBuffer();
    const source = await originalOf(truecolour);
    const outcome = await EXPERIMENTS['png-lossless'].run(source, SETTINGS);
    assert.ok(outcome.ok);
    const meta = await sharp(outcome.variant.bytes).metadata();
    assert.ok(meta.isPalette, 'an indexed PNG');
    assert.equal(meta.bitsPerSample, 4, 'at 4 bits');
    assert.ok(outcome.variant.bytes.length < truecolour.length);
    const decoded = await decodeRgba(outcome.variant.bytes);
    for (let i = 0; i < data.length; i += 4) {
      assert.equal(decoded.data[i + 3], data[i + 3], 'alpha exact');
      if (data[i + 3] !== 0) assert.deepEqual([...decoded.data.subarray(i, i + 3)], [...data.subarray(i, i + 3)], 'colour exact');
    }
    const photo = await EXPERIMENTS['png-lossless'].run(await originalOf(await sharp(site('photos/night-lights.jpg')).resize(200).png().toBuffer()), SETTINGS);
    assert.ok(photo.ok);
    const photoMeta = await sharp(photo.variant.bytes).metadata();
    assert.equal(photoMeta.channels, 3);
    assert.equal(photoMeta.isPalette, false);
  });
});

describe('lossless WebP compresses hard (issue 17)', () => {
  it('on a texture, a quarter smaller than libwebp\'s default lossless setting, identical', async () => {
    const source = await original('bg/brick.png');
    const { width, height, data } = source.pixels;
    const atDefault = await sharp(data, { raw: { width, height, channels: 4 } }).removeAlpha().webp({ lossless: true, effort: 6 }).toBuffer();
    const outcome = await EXPERIMENTS['webp-lossless'].run(source, SETTINGS);
    assert.ok(outcome.ok);
    assert.ok(outcome.variant.bytes.length < atDefault.length * 0.8, `${outcome.variant.bytes.length} vs ${atDefault.length}`);
    assert.equal(dssim(source.pixels, await decodeRgba(outcome.variant.bytes)), 0);
  });
});

describe('lossless WebP runs only where it may win (issue 17)', () => {
  it('is not run where lossy WebP under d is under half the smallest lossless PNG, and is run otherwise', async () => {
    const source = await original('bg/brick.png');
    const skipped = await EXPERIMENTS['webp-lossless'].run(source, SETTINGS, { webp: 2492, 'png-lossless': 20785 });
    assert.equal(skipped.ok, false);
    assert.match(skipped.ok ? '' : skipped.reason, /^cannot win/);
    assert.equal(skipped.encodes, 0);
    // Lossy WebP not far below the PNG, or either of them unknown: it runs.
    for (const known of [{ webp: 12000, 'png-lossless': 20785 }, { 'png-lossless': 20785 }, { webp: 2492 }, {}]) {
      const outcome = await EXPERIMENTS['webp-lossless'].run(source, SETTINGS, known);
      assert.ok(outcome.ok && outcome.encodes === 1, JSON.stringify(known));
    }
  });

  it('the whole plan: skipped on a texture where lossy WebP is far smaller, and the best where nothing lossy comes close', async () => {
    const texture = await optimizeAll(await original('bg/brick.png'), ALL, SETTINGS);
    const record = texture.records.find((r) => r.experiment === 'webp-lossless')!;
    assert.ok(!record.outcome.ok && record.outcome.reason.startsWith('cannot win'));
    // One-pixel stripes of two colours: every lossy encoder blurs them far over d; lossless WebP is tiny.
    const side = 128;
    const data = Buffer.alloc(side * side * 3);
    for (let i = 0; i < side * side; i += 1) data.fill(i % 2 === 0 ? 0x20 : 0xe0, 3 * i, 3 * i + 2);
    const stripes = await originalOf(await sharp(data, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer());
    const result = await optimizeAll(stripes, { webp: true, avif: true, zorro: false }, SETTINGS);
    const lossless = result.records.find((r) => r.experiment === 'webp-lossless')!;
    assert.ok(lossless.outcome.ok, 'lossless WebP ran');
    assert.ok(result.best && result.best.lossless, `best: ${result.best?.experiment}`);
  });
});

describe('AVIF is searched at the effort it is encoded with (issue 17)', () => {
  it('the bytes are that effort\'s encode at the quality found, and one step lower at that effort is above d', async () => {
    const source = await original('photos/night-lights.jpg');
    const settings = { ...SETTINGS, avifEffort: 4 };
    const outcome = await EXPERIMENTS.avif.run(source, settings);
    assert.ok(outcome.ok);
    const quality = outcome.variant.quality!;
    assert.ok(quality > settings.minQuality, `quality ${quality}`);
    assert.ok(outcome.variant.bytes.equals(await encodeAvif(source, quality, settings.avifEffort)), 'encoded at the searched effort');
    const lower = await encodeAvif(source, quality - 1, settings.avifEffort);
    // The search aims a little under d (AVIF decoders differ, see avif.ts): one step lower misses that aim.
    assert.ok(dssim(source.pixels, await decodeRgba(lower)) > settings.d * 0.97, 'the lowest quality under the aim, at this effort');
  });
});

describe('palette PNG searches the fewest colours under d (issue 17)', () => {
  it('on a chart, 16 colours or fewer win over 256, within d', async () => {
    const source = await original('drawings/chart-attendance.png');
    const at256 = await fromPixelsPalette(source, 256);
    const outcome = await EXPERIMENTS['png-palette'].run(source, SETTINGS);
    assert.ok(outcome.ok);
    assert.ok(outcome.variant.quality! <= 16, `colours: ${outcome.variant.quality}`);
    assert.ok(outcome.variant.bytes.length < at256.length * 0.7, `${outcome.variant.bytes.length} vs ${at256.length} at 256 colours`);
    assert.ok(dssim(source.pixels, await decodeRgba(outcome.variant.bytes)) <= SETTINGS.d);
  });

  it('on a transparent graphic too (judged over black, white and grey), fewer colours win', async () => {
    // Three flat colours and holes: a few palette entries hold it.
    const width = 64;
    const data = Buffer.alloc(width * width * 4);
    for (let p = 0; p < width * width; p += 1) {
      const [x, y] = [p % width, Math.floor(p / width)];
      const colour = x < 20 ? [200, 30, 40] : x < 40 ? [20, 120, 200] : [250, 220, 90];
      data.set([...colour, (x + y) % 16 < 4 ? 0 : 255], p * 4);
    }
    const source = await originalOf(await sharp(data, { raw: { width, height: width, channels: 4 } }).png().toBuffer());
    assert.ok(source.transparent);
    const outcome = await EXPERIMENTS['png-palette'].run(source, SETTINGS);
    assert.ok(outcome.ok);
    assert.ok(outcome.variant.quality! <= 16, `colours: ${outcome.variant.quality}`);
    assert.ok(dssim(source.pixels, await decodeRgba(outcome.variant.bytes)) <= SETTINGS.d);
  });

  it('on a photo-like texture it stops where d does: every smaller palette it skipped is above d', async () => {
    const source = await original('bg/brick.png');
    const outcome = await EXPERIMENTS['png-palette'].run(source, SETTINGS);
    assert.ok(outcome.ok);
    const colours = outcome.variant.quality!;
    for (const fewer of [2, 4, 16, 256].filter((count) => count < colours)) {
      for (const dither of [0, 1]) {
        const bytes = await fromPixelsPalette(source, fewer, dither);
        assert.ok(dssim(source.pixels, await decodeRgba(bytes)) > SETTINGS.d, `${fewer} colours (dither ${dither}) would have passed`);
      }
    }
  });
});

/** A palette PNG of the original's pixels, as the experiment encodes it. */
function fromPixelsPalette(source: Original, colours: number, dither = 1): Promise<Buffer> {
  const { width, height, data } = source.pixels;
  const pipeline = sharp(data, { raw: { width, height, channels: 4 } });
  return (source.transparent ? pipeline : pipeline.removeAlpha()).png({ palette: true, colours, dither, effort: 10, compressionLevel: 9 }).toBuffer();
}

describe('every experiment on real images', () => {
  const inputs = ['photos/night-lights.jpg', 'drawings/chart-attendance.png', 'logo.png', 'icons/new.gif', 'rocket.webp'];
  const originals = new Map<string, Original>();
  before(async () => {
    for (const path of inputs) originals.set(path, await original(path));
  });

  for (const path of inputs) {
    it(`${path}: same size, decodable, lossy under d, lossless identical, never bigger`, async () => {
      const source = originals.get(path)!;
      const { best, records } = await optimizeAll(source, ALL, SETTINGS);
      assert.ok(records.length > 0);
      for (const { experiment, outcome } of records) {
        if (!outcome.ok) continue;
        const variant = outcome.variant;
        const decoded = await decodeRgba(variant.bytes, { animated: source.facts.frames > 1 });
        assert.equal(decoded.width, source.pixels.width, `${experiment} width`);
        assert.equal(decoded.height, source.pixels.height, `${experiment} height`);
        // Measured again here, independently of the experiment's own figure.
        const measured = Math.max(...frames(source.pixels, source.facts.frames).map((frame, i) => dssim(frame, frames(decoded, source.facts.frames)[i]!)));
        if (variant.lossless) assert.equal(measured, 0, `${experiment} is lossless`);
        else assert.ok(measured <= SETTINGS.d, `${experiment}: DSSIM ${measured} > d`);
      }
      if (best) assert.ok(wireSize(best) < source.bytes.length, 'the winner is smaller than the original');
    });
  }

  it('keeps a format-specific search bound (avif=60-style)', async () => {
    const outcome = await EXPERIMENTS.avif.run(originals.get('photos/night-lights.jpg')!, { ...SETTINGS, formatBounds: { avif: { min: 60, max: 65 } } });
    if (outcome.ok) assert.ok(outcome.variant.quality! >= 60 && outcome.variant.quality! <= 65, String(outcome.variant.quality));
    else assert.match(outcome.reason, /no quality up to 65/);
  });

  it('an animation is judged by its worst frame and keeps its frame delays and loop count', async () => {
    const source = originals.get('icons/new.gif')!;
    // At the fixed quality (d ≤ 0: unmeasured) the encode is kept, so its timing can be read.
    const fixed = await EXPERIMENTS['webp-animated'].run(source, { ...SETTINGS, d: 0 });
    assert.ok(fixed.ok);
    const timing = await sharp(fixed.variant.bytes, { animated: true }).metadata();
    const originalTiming = await sharp(source.bytes, { animated: true }).metadata();
    assert.deepEqual(timing.delay, originalTiming.delay);
    assert.deepEqual(timing.delay, Array(8).fill(180));
    assert.equal(timing.loop, originalTiming.loop);
    // Its reported DSSIM is the worst frame's (measured over the whole strip, good frames hid bad ones).
    const decoded = frames(await decodeRgba(fixed.variant.bytes, { animated: true }), 8);
    const perFrame = frames(source.pixels, 8).map((frame, i) => dssim(frame, decoded[i]!));
    assert.ok(Math.abs(fixed.variant.dssim - Math.max(...perFrame)) < 1e-9, `${fixed.variant.dssim} vs ${perFrame.join(', ')}`);
    assert.ok(dssim(source.pixels, await decodeRgba(fixed.variant.bytes, { animated: true })) < fixed.variant.dssim, 'the strip as a whole hides the worst frame');
    const lossless = await EXPERIMENTS['webp-lossless'].run(source, SETTINGS);
    assert.ok(lossless.ok && lossless.variant.bytes.length < source.bytes.length);
    assert.deepEqual((await sharp(lossless.variant.bytes, { animated: true }).metadata()).delay, originalTiming.delay);
  });

  it('makes no AVIF of transparent pixels (some Chromium builds stretch AVIF alpha)', async () => {
    const outcome = await EXPERIMENTS.avif.run(originals.get('logo.png')!, SETTINGS);
    assert.deepEqual(outcome.ok ? 'made' : outcome.reason, AVIF_ALPHA_REJECTED);
  });

  it('ZorroSVG renders to the original within d over black and over white', async () => {
    const source = originals.get('logo.png')!;
    const outcome = await EXPERIMENTS.zorro.run(source, SETTINGS);
    assert.ok(outcome.ok, !outcome.ok ? outcome.reason : '');
    const rendered = await decodeRgba(outcome.variant.bytes);
    assert.equal(rendered.width, source.pixels.width);
    // SPEC §9 step 2 compares transparent images composited over black and over white, and keeps the worse.
    assert.ok(dssim(source.pixels, rendered) <= SETTINGS.d);
    // The mask carries the alpha exactly.
    for (let i = 3; i < rendered.data.length; i += 4) assert.equal(rendered.data[i], source.pixels.data[i]);
    assert.ok(outcome.variant.transfer && outcome.variant.transfer.bytes.length < outcome.variant.bytes.length, 'sent gzip-compressed');
  });
});

describe('variants carry no metadata (SPEC §6): orientation applied, no EXIF, no ICC profile', () => {
  for (const path of ['photos/coffee-exif6.jpg', 'photos/chelsea-p3.jpg']) {
    it(path, async () => {
      const source = await original(path);
      const facts = await sharp(source.bytes).metadata();
      assert.ok(facts.orientation === 6 || facts.icc !== undefined, 'the fixture has what the test is about');
      // The upright size: a quarter turn swaps the sides.
      const upright = facts.orientation === 6 ? { width: facts.height, height: facts.width } : { width: facts.width, height: facts.height };
      let checked = 0;
      // Every experiment a JPEG may get (with aiqa="jpeg", the plan has JPEG beside WebP and AVIF).
      for (const name of planFor({ type: 'jpeg', transparent: false, frames: 1 }, ALL, { losslessPng: false, aiqaAll: false })) {
        const outcome = await EXPERIMENTS[name].run(source, SETTINGS);
        if (!outcome.ok) continue;
        const made = await sharp(outcome.variant.bytes).metadata();
        assert.deepEqual({ width: made.width, height: made.height }, upright, `${name}: upright`);
        assert.ok(made.orientation === undefined || made.orientation === 1, `${name}: orientation ${made.orientation}`);
        assert.equal(made.exif, undefined, `${name}: EXIF left`);
        assert.equal(made.icc, undefined, `${name}: ICC profile left`);
        checked += 1;
      }
      assert.equal(checked, 3, 'JPEG, WebP and AVIF each made a variant');
    });
  }
});
