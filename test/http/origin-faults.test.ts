import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/** 200 requests in a row through one keep-alive connection pool, each must be a complete 200. */
async function twoHundredInARow(proxy: TestProxy): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  try {
    for (let i = 0; i < 200; i += 1) {
      const res = await fetchRaw(new URL(`/ok/${i}`, proxy.url), { agent: agent as unknown as false });
      assert.equal(res.status, 200, `request ${i}`);
      assert.equal(res.body.toString(), `ok /ok/${i}`);
      assert.ok(res.complete);
    }
  } finally {
    agent.destroy();
  }
}

function answerOk(origin: TestOrigin, otherwise?: Parameters<TestOrigin['handle']>[0]): void {
  origin.handle((req, res) => {
    if (req.url?.startsWith('/ok/')) res.end(`ok ${req.url}`);
    else otherwise?.(req, res);
  });
}

async function failureCount(proxy: TestProxy, reason: string): Promise<number> {
  const metric = await proxy.running.metrics.originFailures.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('origin faults', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('origin down: 502 in under a second, then it recovers when the origin is back', async (t) => {
    const probe = await startOrigin();
    const port = probe.port;
    await probe.close();
    const proxy = await startProxy({ origin: new URL(`http://127.0.0.1:${port}/`) });
    cleanup.push(() => proxy.stop());

    const started = performance.now();
    const res = await fetchRaw(new URL('/page.html', proxy.url));
    const elapsed = performance.now() - started;
    assert.equal(res.status, 502);
    assert.match(res.body.toString(), /refused the connection/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.ok(elapsed < 1000, `502 after ${elapsed.toFixed(0)} ms`);
    t.diagnostic(`502 after ${elapsed.toFixed(1)} ms`);
    assert.equal(await failureCount(proxy, 'refused'), 1);
    const line = proxy.logs.findLast((l) => l.msg === 'request' && l.path === '/page.html');
    assert.equal(line?.status, 502);
    assert.match(String(line?.error), /^origin refused/);

    const origin = await startOrigin(undefined, port);
    cleanup.push(() => origin.close());
    answerOk(origin);
    await twoHundredInARow(proxy);
  });

  it('origin silent: 504 at the configured timeout, later requests unharmed', async (t) => {
    const origin = await startOrigin();
    cleanup.push(() => origin.close());
    answerOk(origin, () => {
      // never answers
    });
    const proxy = await startProxy({ origin: origin.url, originAttributes: 'timeout="0.5"' });
    cleanup.push(() => proxy.stop());

    const started = performance.now();
    const res = await fetchRaw(new URL('/silent', proxy.url));
    const elapsed = performance.now() - started;
    assert.equal(res.status, 504);
    assert.match(res.body.toString(), /did not answer in time/);
    assert.ok(elapsed >= 490, `504 after ${elapsed.toFixed(0)} ms, before the timeout`);
    assert.ok(elapsed < 5000, `504 after ${elapsed.toFixed(0)} ms`);
    t.diagnostic(`504 after ${elapsed.toFixed(1)} ms (timeout 500 ms)`);
    assert.equal(await failureCount(proxy, 'timeout'), 1);

    const upload = await fetchRaw(new URL('/silent-upload', proxy.url), {
      method: 'POST',
      headers: { Expect: '100-continue' },
      body: 'a body sent after 100 Continue',
    });
    assert.equal(upload.status, 504, 'an upload with Expect: 100-continue times out the same way');
    assert.equal(origin.requests.at(-1)?.headers.expect, undefined);
    await twoHundredInARow(proxy);
  });

  it('origin stalls mid-body: the response is aborted at the timeout', async () => {
    const origin = await startOrigin();
    cleanup.push(() => origin.close());
    answerOk(origin, (_req, res) => {
      res.writeHead(200, { 'Content-Length': '1000' });
      res.write(Buffer.alloc(100, 1));
    });
    const proxy = await startProxy({ origin: origin.url, originAttributes: 'timeout="0.5"' });
    cleanup.push(() => proxy.stop());
    const res = await fetchRaw(new URL('/stall', proxy.url));
    assert.equal(res.status, 200);
    assert.equal(res.complete, false);
    assert.ok(res.body.length < 1000);
    await twoHundredInARow(proxy);
  });

  for (const framing of ['content-length', 'chunked'] as const) {
    it(`origin resets mid-body (${framing}): the client's response is aborted, not cut short`, async () => {
      const origin = await startOrigin();
      cleanup.push(() => origin.close());
      answerOk(origin, (_req, res) => {
        res.writeHead(200, framing === 'content-length' ? { 'Content-Length': String(1 << 20) } : {});
        res.write(Buffer.alloc(64 * 1024, 7), () => res.socket?.resetAndDestroy());
      });
      const proxy = await startProxy({ origin: origin.url });
      cleanup.push(() => proxy.stop());

      const res = await fetchRaw(new URL('/reset', proxy.url));
      assert.equal(res.status, 200);
      assert.equal(res.complete, false, 'the client can tell the body is incomplete');
      assert.ok(res.body.length < 1 << 20);
      const line = proxy.logs.findLast((l) => l.msg === 'request' && l.path === '/reset');
      assert.equal(line?.aborted, true);
      assert.equal(line?.level, 'warn');
      await twoHundredInARow(proxy);
    });
  }
});
