import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'node:test';
import { connectionListed, requestHeadersForOrigin, responseHeadersForClient } from '../../src/proxy/hop-by-hop.js';
import { classifyOriginFailure, OriginTimeoutError } from '../../src/proxy/origin-failure.js';
import { originPath } from '../../src/proxy/request-target.js';

describe('hop-by-hop headers (RFC 9110 §7.6.1)', () => {
  it('reads the names a Connection header lists', () => {
    assert.deepEqual([...connectionListed('Keep-Alive, X-Session , close')], ['keep-alive', 'x-session', 'close']);
    assert.deepEqual([...connectionListed(undefined)], []);
  });

  it('drops hop-by-hop request fields and those Connection names, keeps the rest', () => {
    const out = requestHeadersForOrigin({
      host: 'site.example',
      connection: 'keep-alive, x-hop',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'x-hop': '1',
      upgrade: 'h2c',
      te: 'gzip',
      accept: 'text/html',
      'transfer-encoding': 'chunked',
    });
    assert.deepEqual(out, { host: 'site.example', accept: 'text/html', 'transfer-encoding': 'chunked' });
  });

  it('does not forward Expect: 100-continue, which the proxy has answered', () => {
    assert.deepEqual(requestHeadersForOrigin({ expect: '100-continue', 'content-length': '5' }), { 'content-length': '5' });
  });

  it('re-states TE: trailers for its own hop, since trailers are passed on', () => {
    assert.equal(requestHeadersForOrigin({ te: 'trailers, deflate;q=0.5', connection: 'TE' }).te, 'trailers');
  });

  it('keeps Upgrade and Connection: upgrade for a WebSocket handshake', () => {
    const out = requestHeadersForOrigin({ connection: 'keep-alive, Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k' }, true);
    assert.deepEqual(out, { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k' });
  });

  it('response fields: the same list as the plain rule (every name lower-cased and checked), for any list (fast-check)', () => {
    // The rule as first written, the reference: hop-by-hop fields and those the Connection fields list go, the
    // Content-Length fields go last, everything else stays in order.
    const reference = (raw: readonly string[]): string[] => {
      const listed = new Set<string>();
      for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'connection') for (const name of connectionListed(raw[i + 1])) listed.add(name);
      const out: string[] = [];
      const length: string[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const lower = raw[i]!.toLowerCase();
        if (['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade'].includes(lower) || listed.has(lower)) continue;
        (lower === 'content-length' ? length : out).push(raw[i]!, raw[i + 1]!);
      }
      return [...out, ...length];
    };
    const names = ['Connection', 'connection', 'CONNECTION', 'Keep-Alive', 'TE', 'te', 'Transfer-Encoding', 'Upgrade', 'Proxy-Connection', 'Content-Length', 'content-length', 'Content-Type', 'Set-Cookie', 'X-Foo', 'x-bar', 'ETag', 'Date', 'Trailer', 'Vary', 'X-Cache-Status'];
    const listedValue = fc.array(fc.constantFrom('x-foo', 'X-Bar', 'close', 'keep-alive', 'ETag', 'date', 'Vary', ' te ', ''), { maxLength: 4 }).map((parts) => parts.join(', '));
    const field = fc.oneof(
      fc.tuple(fc.constantFrom(...names), fc.oneof(listedValue, fc.string({ maxLength: 8 }))),
      fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 8 })),
    );
    fc.assert(
      fc.property(fc.array(field, { maxLength: 16 }), (fields) => {
        const raw = fields.flat();
        assert.deepEqual(responseHeadersForClient(raw), reference(raw));
      }),
      { seed: 18, numRuns: 5000 },
    );
  });

  it('keeps response fields in order, spelling and repetition, without hop-by-hop ones', () => {
    const raw = ['Date', 'x', 'Connection', 'keep-alive, X-Trace', 'Set-Cookie', 'a=1', 'Keep-Alive', 'timeout=5', 'set-cookie', 'b=2', 'X-Trace', 't', 'Transfer-Encoding', 'chunked', 'ETag', '"v1"'];
    assert.deepEqual(responseHeadersForClient(raw), ['Date', 'x', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'ETag', '"v1"']);
  });
});

describe('request target → origin path (RFC 9112 §3.2)', () => {
  it('forwards origin-form targets exactly as written', () => {
    for (const target of ['/', '/a/b.jpg?x=1&y', '/a/../../etc/passwd', '/%2e%2e/%2F/x', '//other.example/x', '/a?b?c']) {
      assert.deepEqual(originPath(target), { ok: true, path: target });
    }
  });

  it('keeps only path and query of an absolute-form target, never its host', () => {
    assert.deepEqual(originPath('http://other.example/x?y=1'), { ok: true, path: '/x?y=1' });
    assert.deepEqual(originPath('http://other.example'), { ok: true, path: '/' });
    assert.deepEqual(originPath('HTTPS://other.example:444?q'), { ok: true, path: '/?q' });
    assert.deepEqual(originPath('http://user@other.example//evil.example/p#frag'), { ok: true, path: '//evil.example/p' });
  });

  it('refuses authority-form and other targets', () => {
    assert.equal(originPath('other.example:443').ok, false);
    assert.equal(originPath('*').ok, false);
    assert.equal(originPath('').ok, false);
  });
});

describe('origin failures', () => {
  it('maps errors to 502 or 504 with a stable reason', () => {
    const codes: [unknown, number, string][] = [
      [new OriginTimeoutError(1000), 504, 'timeout'],
      [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 502, 'refused'],
      [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 502, 'reset'],
      [Object.assign(new Error('x'), { code: 'ENOTFOUND' }), 502, 'dns'],
      [Object.assign(new Error('x'), { code: 'HPE_INVALID_CONSTANT' }), 502, 'protocol'],
      [new Error('mystery'), 502, 'other'],
    ];
    for (const [err, status, reason] of codes) assert.deepEqual(classifyOriginFailure(err), { status, reason });
  });
});
