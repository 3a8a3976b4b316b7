import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ResponseHold } from '../../../src/http/image/response-hold.js';
import { sendImage } from '../../../src/http/image/send.js';
import { MemoryBudget } from '../../../src/http/memory-budget.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import type { OriginalRecord } from '../../../src/store/records.js';
import { fetchRaw } from '../../support/client.js';
import { until } from '../../support/until.js';

const record: OriginalRecord = { url: '/a.jpg', digest: 'd', size: 1000, contentType: 'image/jpeg', validatedAt: Date.now() };
const body = Buffer.from('the bytes of an image');

describe('image route, step 6: send', () => {
  const metrics = createMetrics();
  const budget = new MemoryBudget(100);
  let server: Server;
  let url: URL;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
  before(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('the body with its length and headers; a header value Node would refuse is dropped, not a 502', async () => {
    handler = (req, res) => sendImage(metrics, req, res, { 'Content-Type': 'image/webp', ETag: '"v"', 'X-Slimproxy-Skip': 'two\nlines' }, body, record, 'variant');
    const response = await fetchRaw(url);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, body);
    assert.equal(response.headers['content-length'], String(body.length));
    assert.equal(response.headers['content-type'], 'image/webp');
    assert.notEqual(response.headers['x-slimproxy-skip'], 'two\nlines');
    const head = await fetchRaw(url, { method: 'HEAD' });
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(body.length));
  });

  it('304 when the client has it, with the validators and lifetime only', async () => {
    handler = (req, res) => sendImage(metrics, req, res, { 'Content-Type': 'image/webp', ETag: '"v"', 'Cache-Control': 'public, max-age=60', 'X-Slimproxy-Image': 'x' }, body, record, 'variant');
    const response = await fetchRaw(url, { headers: { 'If-None-Match': '"v"' } });
    assert.equal(response.status, 304);
    assert.equal(response.headers.etag, '"v"');
    assert.equal(response.headers['cache-control'], 'public, max-age=60');
    assert.equal(response.headers['x-slimproxy-image'], undefined);
  });

  it('a response holds its share of the budget until it closes; one handed back lets go at once', async () => {
    let hold: ResponseHold | undefined;
    handler = (req, res) => {
      hold = new ResponseHold(res, budget);
      assert.ok(hold.reserve(60));
      assert.equal(hold.reserve(60), false, 'not over the budget');
      assert.equal(budget.used, 60);
      sendImage(metrics, req, res, { 'Content-Type': 'image/jpeg' }, body, record, 'original');
    };
    await fetchRaw(url);
    await until(() => budget.used === 0, () => `${budget.used} bytes still held after the response closed`);
    handler = (_req, res) => {
      const held = new ResponseHold(res, budget);
      held.reserve(50);
      assert.deepEqual(held.handBack('to the origin'), { kind: 'forward', reason: 'to the origin' });
      assert.equal(budget.used, 0);
      assert.equal(held.reserve(10), false, 'nothing more once let go');
      res.end();
    };
    await fetchRaw(url);
  });
});
