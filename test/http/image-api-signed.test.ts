import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { type ImageSigning, SIGNATURE_PARAMETER, signImageUrl } from '../../src/http/image-signature.js';
import { type ClientResponse, fetchRaw } from '../support/client.js';
import { metricSamples } from '../support/metrics-text.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/flower.jpg', PROJECT_ROOT)); // 640×427
const SIGNING: ImageSigning = { key: '7fd3a9e1c45b8a0e2f6d91c3b7e4a8d2', salt: '3c9e5a7b1d2f4e6a' };
const KEY_ATTRIBUTES = `key="${SIGNING.key.toUpperCase()}" salt="${SIGNING.salt}"`;

async function dimensions(response: ClientResponse): Promise<string> {
  const { width, height } = await sharp(response.body).metadata();
  return `${width}x${height}`;
}

/** The proxy's metrics as Prometheus text, from its admin listener. */
async function metricsText(proxy: TestProxy): Promise<string> {
  return (await fetchRaw(new URL('metrics', proxy.running.adminUrl))).body.toString();
}

const refusedForSignature = async (proxy: TestProxy) => metricSamples(await metricsText(proxy), 'slimproxy_refused_requests_total').find((s) => s.labels.reason === 'image signature')?.value ?? 0;

describe('signed image-option URLs (<image-api key salt>)', () => {
  let origin: TestOrigin;
  let signed: TestProxy;
  let unsigned: TestProxy;
  const asked = (path: string) => origin.requests.filter((r) => r.url.split('?')[0] === path).length;
  before(async () => {
    origin = await startOrigin((req, res) => {
      if (/^\/[a-z0-9-]+\.jpg$/.test((req.url ?? '').split('?')[0]!)) {
        res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=300' });
        res.end(photo);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    signed = await startProxy({ origin: origin.url, elements: `<image-api enabled="true" ${KEY_ATTRIBUTES}/>` });
    unsigned = await startProxy({ origin: origin.url, elements: '<image-api enabled="true"/>' });
  });
  after(async () => {
    await signed.stop(5000);
    await unsigned.stop(5000);
    await origin.close();
  });

  it('an unsigned option URL: 403 with a short reason, counted and logged; the origin is not asked, nothing is made', async () => {
    const response = await fetchRaw(new URL('/unsigned.jpg?size=100', signed.url));
    assert.equal(response.status, 403);
    assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(response.body.toString(), '403 Forbidden: image options need a valid signature: slimproxy_sig missing\n');
    assert.equal(asked('/unsigned.jpg'), 0, 'the origin saw no request');
    assert.equal(await refusedForSignature(signed), 1);
    const line = signed.logs.find((l) => l.path === '/unsigned.jpg?size=100');
    assert.equal(line?.status, 403);
    assert.equal(line?.route, 'image-api');
    assert.match(String(line?.error), /slimproxy_sig missing/);
  });

  it('a wrongly signed one (a character changed, another URL’s signature, another salt or key, signed twice): 403 each', async () => {
    const good = signImageUrl('/wrong.jpg?size=100', SIGNING);
    const signature = good.slice(good.lastIndexOf('=') + 1);
    // The last character's change that base64-decodes to the same bytes (its two low bits are unused): refused
    // all the same.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const flipped = alphabet[alphabet.indexOf(signature.at(-1)!) ^ 1]!;
    assert.deepEqual(Buffer.from(`${signature.slice(0, -1)}${flipped}`, 'base64url'), Buffer.from(signature, 'base64url'), 'the same bytes');
    const other = (url: string, signing: ImageSigning) => {
      const s = signImageUrl(url, signing);
      return s.slice(s.lastIndexOf('=') + 1);
    };
    const wrong = [
      `${good.slice(0, -1)}${flipped}`,
      `${good.slice(0, -43)}${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`,
      `/wrong.jpg?size=100&${SIGNATURE_PARAMETER}=${other('/wrong.jpg?size=101', SIGNING)}`,
      `/wrong.jpg?size=100&${SIGNATURE_PARAMETER}=${other('/wrong.jpg?size=100', { ...SIGNING, salt: 'ff'.repeat(8) })}`,
      `/wrong.jpg?size=100&${SIGNATURE_PARAMETER}=${other('/wrong.jpg?size=100', { ...SIGNING, key: 'ee'.repeat(16) })}`,
      `${good}&${SIGNATURE_PARAMETER}=${signature}`,
      good.replace('size=100', 'size=1000'),
    ];
    const before = await refusedForSignature(signed);
    for (const path of wrong) {
      const response = await fetchRaw(new URL(path, signed.url));
      assert.equal(response.status, 403, path);
      assert.match(response.body.toString(), /^403 Forbidden: image options need a valid signature: slimproxy_sig (does not match|given more than once)\n$/);
    }
    assert.equal(await refusedForSignature(signed), before + wrong.length);
    assert.equal(asked('/wrong.jpg'), 0, 'the origin saw no request');
  });

  it('a correctly signed one is transformed; the origin sees neither the options nor the signature', async () => {
    const response = await fetchRaw(new URL(signImageUrl('/right.jpg?v=7&size=160&fm=webp', SIGNING), signed.url));
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'image/webp');
    assert.equal(await dimensions(response), '160x107');
    assert.deepEqual(
      origin.requests.filter((r) => r.url.startsWith('/right.jpg')).map((r) => r.url),
      ['/right.jpg?v=7'],
    );
    // Marked by a rewritten page after the template signed it: the mark is not part of what was signed.
    const marked = await fetchRaw(new URL(`${signImageUrl('/right.jpg?v=7&size=80', SIGNING)}&m=ic,webp`, signed.url));
    assert.equal(marked.status, 200);
    assert.equal(await dimensions(marked), '80x53');
  });

  it('an unsigned Sec-CH-DPR is held to a few steps: every float a client sends makes at most one transform per step, and option sets that make the same pixels share one variant', { timeout: 120_000 }, async () => {
    const storeBytes = async () => metricSamples(await metricsText(signed), 'slimproxy_store_bytes')[0]!.value;
    const path = signImageUrl('/hinted.jpg?size=120&fm=webp', SIGNING);
    // Without a hint: the original and the DPR-1 variant are stored; from here only new variants add bytes.
    const plain = await fetchRaw(new URL(path, signed.url));
    assert.equal(plain.status, 200);
    assert.equal(await dimensions(plain), '120x80');
    const before = await storeBytes();
    // [hint, the step it counts as]: the nearest of 1, 1.5, 2, 2.5, 3 (halfway up), held to 1 below and 3 above.
    const hints: [string, number][] = [
      ['1.00001', 1], ['1.2', 1], ['1.2499', 1], ['0.5', 1],
      ['1.25', 1.5], ['1.4', 1.5], ['1.5', 1.5], ['1.74', 1.5],
      ['1.75', 2], ['2.00001', 2], ['2.00002', 2], ['2.00003', 2], ['2.1', 2], ['2.2', 2],
      ['2.4', 2.5], ['2.625', 2.5],
      ['2.75', 3], ['3', 3], ['3.5', 3], ['4', 3], ['10', 3],
    ];
    const bodies = new Map<number, Buffer>([[1, plain.body]]);
    for (const [hint, step] of hints) {
      const response = await fetchRaw(new URL(path, signed.url), { headers: { 'Sec-CH-DPR': hint } });
      assert.equal(response.status, 200, hint);
      assert.equal(response.headers.vary, 'Sec-CH-DPR');
      assert.equal(await dimensions(response), `${120 * step}x${80 * step}`, `Sec-CH-DPR ${hint}`);
      const same = bodies.get(step);
      if (same) assert.deepEqual(response.body, same, `Sec-CH-DPR ${hint}: the bytes of every hint of step ${step}`);
      else bodies.set(step, response.body);
    }
    assert.deepEqual([...bodies.keys()].sort((a, b) => a - b), [1, 1.5, 2, 2.5, 3]);
    const made = [...bodies].filter(([step]) => step !== 1).reduce((sum, [, body]) => sum + body.length, 0);
    // Each stored variant counts its bytes and what it costs on disk beyond them (1 KiB and 16 B per character of
    // its key, a few hundred characters at most here): four of them, not one per float.
    const afterSteps = await storeBytes();
    const overhead = afterSteps - before - made;
    assert.ok(overhead >= 4 * 1024 && overhead < 5 * 1024 + 4 * 16 * 300, `one variant stored per step, none per float: ${overhead} B beyond the bodies`);
    // The slot is the effective transform: the same 240x160 WebP asked for in other words is the step-2 variant.
    for (const other of ['/hinted.jpg?size=240&fm=webp', '/hinted.jpg?size=120&dpr=2&fm=webp', '/hinted.jpg?size=240x5000&fm=webp&resize_algorithm=auto']) {
      const response = await fetchRaw(new URL(signImageUrl(other, SIGNING), signed.url));
      assert.equal(response.status, 200, other);
      assert.deepEqual(response.body, bodies.get(2), other);
    }
    assert.equal(await storeBytes(), afterSteps, 'nothing new stored for the same pixels');
  });

  it('only option URLs need a signature: a plain image URL and a marked one go through as before', async () => {
    const plain = await fetchRaw(new URL('/plain.jpg?v=1', signed.url));
    assert.equal(plain.status, 200);
    assert.deepEqual(plain.body, photo);
    const marked = await fetchRaw(new URL('/plain.jpg?m=ic,webp', signed.url));
    assert.equal(marked.status, 200);
    assert.deepEqual(marked.body, photo, 'compression is off: a marked URL reaches the origin unmarked');
  });

  it('with no key, option URLs are transformed unsigned, as before (a stray signature parameter is still ours)', async () => {
    const response = await fetchRaw(new URL('/nokey.jpg?size=120', unsigned.url));
    assert.equal(response.status, 200);
    assert.equal(await dimensions(response), '120x80');
    const stray = await fetchRaw(new URL(`/nokey.jpg?size=90&${SIGNATURE_PARAMETER}=whatever`, unsigned.url));
    assert.equal(stray.status, 200);
    assert.equal(await dimensions(stray), '90x60');
    assert.ok(!origin.requests.some((r) => r.url.includes(SIGNATURE_PARAMETER)), origin.requests.map((r) => r.url).join(' '));
    assert.equal(await refusedForSignature(unsigned), 0);
  });
});

describe('the bounded transform queue (<image-api max-queue>)', () => {
  const MAX_QUEUE = 8;
  const FULL = `transform queue full (${MAX_QUEUE} waiting)`;
  let origin: TestOrigin;
  let proxy: TestProxy;
  let small: Buffer;
  before(async () => {
    small = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 128, g: 128, b: 128 }, noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg({ quality: 90 }).toBuffer();
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=300' });
      res.end(small);
    });
    proxy = await startProxy({ origin: origin.url, elements: `<image-api enabled="true" ${KEY_ATTRIBUTES} max-queue="${MAX_QUEUE}"/><limits max-image-processes="2"/>` });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  /** The transform gauges, as scraped. */
  const transforms = async (): Promise<Record<string, number>> => Object.fromEntries(metricSamples(await metricsText(proxy), 'slimproxy_image_transforms').map((s): [string, number] => [s.labels.state ?? '', s.value]));

  it('requests for one option set being made join it: none is refused for a full queue', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 40 });
    try {
      const path = signImageUrl('/same.jpg?size=30x20&fm=webp', SIGNING);
      const responses = await Promise.all(Array.from({ length: 40 }, () => fetchRaw(new URL(path, proxy.url), { agent: agent as unknown as false })));
      for (const response of responses) {
        assert.equal(response.status, 200);
        assert.equal(response.headers['x-slimproxy-skip'], undefined);
        assert.equal(response.headers['content-type'], 'image/webp');
      }
      assert.equal((await transforms())['peak-waiting'], 0, 'one job, started at once, whoever asked');
    } finally {
      agent.destroy();
    }
  });

  it('1,000 distinct signed option sets at once: each answered 200, transformed or the original saying the queue is full; the queue stays bounded and health answers meanwhile', { timeout: 300_000 }, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 250 });
    const boxes: [number, number][] = [];
    for (let w = 1; w <= 40; w += 1) for (let h = 1; h <= 25; h += 1) boxes.push([w, h]);
    let done = 0;
    const storm = Promise.all(
      boxes.map(async ([w, h]) => {
        const response = await fetchRaw(new URL(signImageUrl(`/storm.jpg?size=${w}x${h}&q=80`, SIGNING), proxy.url), { agent: agent as unknown as false });
        done += 1;
        return { w, h, response };
      }),
    );
    try {
      // Health while the storm is in flight: answered, and before the storm is over.
      const health = await fetchRaw(new URL('/.slimproxy/health', proxy.url));
      const doneAtHealth = done;
      assert.equal(health.status, 200);
      assert.ok(doneAtHealth < boxes.length, `health answered after ${doneAtHealth} of ${boxes.length} responses`);
      const results = await storm;
      let transformed = 0;
      let full = 0;
      for (const { w, h, response } of results) {
        assert.equal(response.status, 200, `${w}x${h}`);
        if (response.headers['x-slimproxy-image'] !== undefined) {
          const { width, height } = await sharp(response.body).metadata();
          assert.ok(width <= w && height <= h && (width === w || height === h), `${w}x${h} box: ${width}x${height}`);
          transformed += 1;
        } else {
          assert.equal(response.headers['x-slimproxy-skip'], FULL, `${w}x${h}`);
          assert.deepEqual(response.body, small, 'the original as it is');
          full += 1;
        }
      }
      assert.equal(transformed + full, boxes.length);
      assert.ok(full > 0, 'the queue was full at some point');
      assert.ok(transformed >= MAX_QUEUE, `${transformed} transformed: at least those that found a place`);
      const gauges = await transforms();
      assert.equal(gauges['peak-waiting'], MAX_QUEUE, 'filled, and never more');
      // What waited is made and answered: nothing left behind.
      assert.equal(gauges.waiting, 0);
      assert.equal(gauges.running, 0);
    } finally {
      await storm.catch(() => undefined);
      agent.destroy();
    }
  });
});
