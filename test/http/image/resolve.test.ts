import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { resolveImage } from '../../../src/http/image/resolve.js';

const request = (method: string, headers: Record<string, string> = {}) => ({ method, headers: { host: 'site.example', ...headers } }) as unknown as IncomingMessage;

describe('image route, step 1: resolve', () => {
  it('a GET or HEAD without Authorization has a source: the store key and the origin path', () => {
    for (const method of ['GET', 'HEAD']) {
      const resolved = resolveImage(request(method), '/img/a.jpg?v=2', 'origin');
      assert.ok('source' in resolved);
      assert.equal(resolved.source.path, '/img/a.jpg?v=2');
      assert.equal(resolved.source.key, '/img/a.jpg?v=2');
    }
  });

  it('with <origin host="client"> the host is part of the key', () => {
    const resolved = resolveImage(request('GET'), '/a.jpg', 'client');
    assert.ok('source' in resolved);
    assert.notEqual(resolved.source.key, '/a.jpg');
    assert.ok(resolved.source.key.includes('site.example'));
  });

  it('anything else is handed back to be forwarded, saying why', () => {
    assert.deepEqual(resolveImage(request('POST'), '/a.jpg', 'origin'), { forward: 'method POST' });
    assert.deepEqual(resolveImage(request('GET', { authorization: 'Basic eDp5' }), '/a.jpg', 'origin'), { forward: 'request with Authorization' });
    const long = resolveImage(request('GET'), `/${'a'.repeat(5000)}.jpg`, 'origin');
    assert.ok('forward' in long && long.forward.includes('no store key'));
  });
});
