import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * Found by a hostile review (2026-12-07): an origin that points back at the proxy made one request loop through it
 * 1,593 times, until X-Forwarded-For grew too long for the parser.
 */
describe('Via: every request sent on says it came through, and one that comes back is a loop (508)', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  let looped: TestProxy;
  let relay: TestOrigin;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
    proxy = await startProxy({ origin: origin.url });
    // A proxy whose origin is itself: its port is known only once it listens, so it points at a relay that sends
    // everything back to it.
    relay = await startOrigin((req, res) => {
      void fetchRaw(new URL(req.url ?? '/', looped.url), { headers: Object.fromEntries(Object.entries(req.headers).filter(([name]) => name !== 'host' && name !== 'connection').map(([name, value]) => [name, String(value)])) }).then((answer) => {
        res.writeHead(answer.status, { 'Content-Type': 'text/plain' });
        res.end(answer.body);
      });
    });
    looped = await startProxy({ origin: relay.url });
  });
  after(async () => {
    await proxy.stop();
    await looped.stop();
    await relay.close();
    await origin.close();
  });

  it('the origin sees a Via of the proxy, after what the client sent', async () => {
    await fetchRaw(new URL('/page', proxy.url), { headers: { Via: '1.1 cdn-edge' } });
    const via = String(origin.requests.at(-1)?.headers.via);
    assert.match(via, /^1\.1 cdn-edge, 1\.1 slimproxy-[0-9a-f]{8}$/);
  });

  it('a request that has been through this proxy already gets 508, and goes no further', async () => {
    const answer = await fetchRaw(new URL('/anything', looped.url));
    // The relay passes the proxy's 508 back through the proxy: the client sees it, after two hops, not a thousand.
    assert.equal(answer.status, 508, JSON.stringify(looped.logs.filter((line) => line.error !== undefined).slice(0, 3)));
    assert.match(answer.body.toString(), /been through this proxy already/);
  });
});
