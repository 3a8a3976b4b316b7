import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, startProxy, type TestProxy } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/launch-poster.jpg', PROJECT_ROOT));

/** Prometheus text exposition format, line by line (comments, samples with optional labels). */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? -?(\d+(\.\d+)?([eE][+-]?\d+)?|NaN|\+Inf|-Inf)( \d+)?$/;
const COMMENT = /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$/;

function sampleValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('the admin listener', () => {
  let origin: TestOrigin;
  let proxy: TestProxy;
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(photo);
    });
    proxy = await startProxy({ origin: origin.url, elements: '<image-compression/>' });
  });
  after(async () => {
    await proxy.stop(5000);
    await origin.close();
  });

  it('serves /metrics as Prometheus text whose counters move with the traffic', async () => {
    const admin = proxy.running.adminUrl!;
    const before = (await fetchRaw(new URL('metrics', admin))).body.toString();
    await fetchRaw(new URL('/a.jpg?m=ic', proxy.url));
    await proxy.running.experimentsIdle();
    await fetchRaw(new URL('/a.jpg?m=ic', proxy.url));
    await fetchRaw(new URL('/.slimproxy/health', proxy.url));
    const res = await fetchRaw(new URL('metrics', admin));
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const text = res.body.toString();
    for (const line of text.split('\n')) if (line !== '') assert.ok(SAMPLE.test(line) || COMMENT.test(line), `not Prometheus text: ${line}`);
    assert.equal(sampleValue(text, 'slimproxy_http_requests_total', 'route="health",outcome="2xx"') - sampleValue(before, 'slimproxy_http_requests_total', 'route="health",outcome="2xx"'), 1);
    assert.equal(sampleValue(text, 'slimproxy_image_responses_total', 'outcome="original"'), 1);
    assert.equal(sampleValue(text, 'slimproxy_image_responses_total', 'outcome="variant"'), 1);
    assert.equal(sampleValue(text, 'slimproxy_experiments_total', 'experiment="jpeg",outcome="kept"'), 1);
    assert.ok(sampleValue(text, 'slimproxy_store_bytes') > 0);
    assert.ok(sampleValue(text, 'process_cpu_user_seconds_total') > 0, 'process metrics too');
    assert.ok(sampleValue(text, 'slimproxy_request_duration_seconds_count', 'route="marked"') >= 2);
    assert.ok(sampleValue(text, 'slimproxy_experiment_duration_seconds_count', 'experiment="jpeg"') === 1);
    assert.equal(sampleValue(text, 'slimproxy_origin_bytes_total'), photo.length, 'the original came once from the origin');
    assert.ok(sampleValue(text, 'slimproxy_client_bytes_total') > photo.length);
  });

  it('samples the event loop into a cumulative histogram: a turn that holds the loop 150 ms is counted over 0.1 s', async () => {
    const admin = proxy.running.adminUrl!;
    const over = (text: string) => sampleValue(text, 'slimproxy_event_loop_delay_seconds_count') - sampleValue(text, 'slimproxy_event_loop_delay_seconds_bucket', 'le="0.1"');
    const before = (await fetchRaw(new URL('metrics', admin))).body.toString();
    // The proxy runs in this process: hold its loop, then let the sampling timer (overdue, so first) take its turn.
    const until = Date.now() + 150;
    while (Date.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 1));
    const after = (await fetchRaw(new URL('metrics', admin))).body.toString();
    assert.ok(over(after) >= over(before) + 1, `a turn over 0.1 s counted: ${over(before)} → ${over(after)}`);
    assert.ok(sampleValue(after, 'slimproxy_event_loop_delay_seconds_count') > sampleValue(before, 'slimproxy_event_loop_delay_seconds_count'), 'cumulative');
  });

  it('serves /api/status and /status with the same totals, images by state and the most requested', async () => {
    const admin = proxy.running.adminUrl!;
    await fetchRaw(new URL('/a.jpg?m=ic', proxy.url)); // the plan for ic has one experiment: now final
    const api = JSON.parse((await fetchRaw(new URL('api/status', admin))).body.toString()) as {
      images: { bytesSaved: number };
      store: { states: Record<string, number>; top: { url: string; state: string; best?: { experiment: string; variant: string } }[] };
    };
    assert.ok(api.images.bytesSaved > 0);
    assert.equal(api.store.states.final, 1);
    assert.equal(api.store.top[0]?.url, '/a.jpg');
    assert.equal(api.store.top[0]?.state, 'final');
    assert.equal(api.store.top[0]?.best?.experiment, 'jpeg');
    const page = (await fetchRaw(new URL('status', admin))).body.toString();
    assert.match(page, new RegExp(`${(api.images.bytesSaved / 1024).toFixed(1)} KB saved`));
    assert.equal(api.store.top[0]?.best?.variant, 'jpeg');
    assert.match(page, /<img src="\/image\?url=%2Fa\.jpg&amp;which=best&amp;variant=jpeg"/);
    const thumbnail = await fetchRaw(new URL('image?url=%2Fa.jpg&which=best&variant=jpeg', admin));
    assert.equal(thumbnail.headers['content-type'], 'image/jpeg');
    assert.ok(thumbnail.body.length > 0 && thumbnail.body.length < photo.length);
    assert.doesNotMatch(page, /<(script|link|img)[^>]+(src|href)="https?:/, 'no outside resources');
  });

  it('on loopback, answers only requests that name the machine: a page cannot read it by a rebound DNS name', async () => {
    const admin = proxy.running.adminUrl!;
    for (const host of ['attacker.example', `attacker.example:${admin.port}`, 'localhost.attacker.example', '127.0.0.1.nip.io', '[::1].evil.com', '[::1']) {
      const refused = await fetchRaw(new URL('api/status', admin), { headers: { host } });
      assert.equal(refused.status, 421, host);
      assert.doesNotMatch(refused.body.toString(), /^\{/, `${host}: nothing of the status`);
    }
    for (const host of [`127.0.0.1:${admin.port}`, `localhost:${admin.port}`, 'LOCALHOST', `[::1]:${admin.port}`, 'app.localhost']) {
      const answered = await fetchRaw(new URL('api/status', admin), { headers: { host } });
      assert.equal(answered.status, 200, host);
    }
  });

  // Found by a review (2026-12-08): an absolute-form target was judged by its Host field and then not found.
  it('takes the host of an absolute-form target, not the Host field (RFC 9112 §3.2.2)', async () => {
    const admin = proxy.running.adminUrl!;
    const raw = (target: string, host: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(admin.port), admin.hostname, () => socket.end(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('end', () => resolve(text.split('\r\n')[0]!));
        socket.on('error', reject);
      });
    assert.equal(await raw(`http://127.0.0.1:${admin.port}/api/status`, 'attacker.example'), 'HTTP/1.1 200 OK', 'the target names the machine');
    assert.equal(await raw('http://attacker.example/api/status', `127.0.0.1:${admin.port}`), 'HTTP/1.1 421 Misdirected Request', 'the target names another host');
  });

  it('is not reachable on the public port', async () => {
    for (const path of ['/metrics', '/status', '/api/status']) {
      const res = await fetchRaw(new URL(path, proxy.url));
      assert.doesNotMatch(res.body.toString(), /slimproxy_|bytesSaved|slimproxy status/, path);
    }
  });

  it('off loopback too, answers only names that it is told or that name the machine (an internal network is rebindable as well)', async () => {
    const open = await startProxy({ origin: origin.url, elements: '<admin address="0.0.0.0" port="0" hosts="status.example.net, Slimproxy-1."/>' });
    try {
      const admin = new URL(`http://127.0.0.1:${open.running.adminUrl!.port}/api/status`);
      for (const host of ['attacker.example', 'status.example.net.attacker.example', 'slimproxy-10', 'example.net']) {
        const refused = await fetchRaw(admin, { headers: { host } });
        assert.equal(refused.status, 421, host);
        assert.match(refused.body.toString(), /<admin hosts/, `${host}: says how to allow a name`);
      }
      for (const host of ['status.example.net', `STATUS.example.net.:${admin.port}`, 'slimproxy-1', `${hostname()}:${admin.port}`, '10.1.2.3', 'localhost']) {
        const answered = await fetchRaw(admin, { headers: { host } });
        assert.equal(answered.status, 200, host);
      }
    } finally {
      await open.stop();
    }
    const any = await startProxy({ origin: origin.url, elements: '<admin address="0.0.0.0" port="0" hosts="*"/>' });
    try {
      const answered = await fetchRaw(new URL(`http://127.0.0.1:${any.running.adminUrl!.port}/api/status`), { headers: { host: 'attacker.example' } });
      assert.equal(answered.status, 200, 'hosts="*" answers any name');
    } finally {
      await any.stop();
    }
  });

  it('can be switched off', async () => {
    const off = await startProxy({ origin: origin.url, elements: '<admin enabled="false"/>' });
    try {
      assert.equal(off.running.adminUrl, undefined);
    } finally {
      await off.stop();
    }
  });
});
