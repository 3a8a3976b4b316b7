import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { addResponseHeader, ProxyResponse } from '../../src/http/request-context.js';
import { fetchRaw } from '../support/client.js';

/** The headers a response written with `head` carries, the proxy having added `X-Request-Id: ours`. */
describe('headers the proxy adds to a response (ProxyResponse)', () => {
  let server: Server;
  let url: URL;
  let head: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined;
  before(async () => {
    server = createServer({ ServerResponse: ProxyResponse }, (_req: IncomingMessage, res: ServerResponse) => {
      addResponseHeader(res, 'X-Request-Id', 'ours');
      res.writeHead(200, head);
      res.end('body');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const cases: [string, OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined, string][] = [
    ['no head', undefined, 'ours'],
    ['an object without it', { 'Content-Type': 'text/plain' }, 'ours'],
    ['an object with it, in any case', { 'x-REQUEST-id': 'theirs' }, 'theirs'],
    ['a flat list without it', ['Content-Type', 'text/plain'], 'ours'],
    ['a flat list with it', ['Content-Type', 'text/plain', 'X-Request-ID', 'theirs'], 'theirs'],
    // A value that says the name is not the field (CORS lists the headers a page may read).
    ['a flat list naming it in a value only', ['Access-Control-Expose-Headers', 'X-Request-Id'], 'ours'],
    ['a list of pairs without it', [['Content-Type', 'text/plain']], 'ours'],
    ['a list of pairs with it', [['x-request-id', 'theirs']], 'theirs'],
  ];
  for (const [what, given, expected] of cases) {
    it(`${what}: X-Request-Id is ${expected}`, async () => {
      head = given;
      const res = await fetchRaw(url);
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-request-id'], expected);
    });
  }
});
