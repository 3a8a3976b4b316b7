import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { type ClusterInstance, startInstance, stopInstances } from '../support/cluster.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { PROJECT_ROOT, waitForLog } from '../support/proxy.js';

const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));

/** The commands of each RESP array in `buffer` (as clients send them), and the bytes left over. */
function commands(buffer: string): { names: string[]; rest: string } {
  const names: string[] = [];
  let rest = buffer;
  for (;;) {
    const head = /^\*(\d+)\r\n/.exec(rest);
    if (!head) break;
    let at = head[0].length;
    const args: string[] = [];
    for (let i = 0; i < Number(head[1]); i += 1) {
      const bulk = /^\$(\d+)\r\n/.exec(rest.slice(at));
      if (!bulk || rest.length < at + bulk[0].length + Number(bulk[1]) + 2) return { names, rest };
      at += bulk[0].length;
      args.push(rest.slice(at, at + Number(bulk[1])));
      at += Number(bulk[1]) + 2;
    }
    names.push(args.join(' ').toUpperCase());
    rest = rest.slice(at);
  }
  return { names, rest };
}

/**
 * A stand-in for a Redis 6.0 server (Debian 11's): it answers the connection handshake, INFO and PING, and
 * refuses everything else, recording what it was asked.
 */
function startOldRedis(): Promise<{ server: Server; url: string; asked: string[] }> {
  const asked: string[] = [];
  const info = '# Server\r\nredis_version:6.0.16\r\nloading:0\r\n';
  const server = createServer((socket) => {
    let pending = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      const { names, rest } = commands(pending + chunk.toString('latin1'));
      pending = rest;
      for (const name of names) {
        asked.push(name);
        if (name.startsWith('CLIENT')) socket.write('+OK\r\n');
        else if (name.startsWith('INFO')) socket.write(`$${info.length}\r\n${info}\r\n`);
        else if (name === 'PING') socket.write('+PONG\r\n');
        else socket.write(`-ERR unknown command '${name.split(' ')[0]}'\r\n`);
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ server, url: `redis://127.0.0.1:${port}/0`, asked });
    }),
  );
}

describe('<cluster>: a Redis too old for the cluster', () => {
  let redis: Awaited<ReturnType<typeof startOldRedis>>;
  let origin: TestOrigin;
  let instance: ClusterInstance | undefined;
  before(async () => {
    redis = await startOldRedis();
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' });
      res.end(photo);
    });
  });
  after(async () => {
    if (instance) await stopInstances([instance]);
    await origin.close();
    redis.server.close();
  });

  it('is refused with an error log line: the instance serves in local-only mode and asks it nothing else', { timeout: 60_000 }, async () => {
    instance = await startInstance('old', origin.url, redis.url);
    const { proxy, admin } = instance;
    const refused = await waitForLog(proxy, (line) => typeof line.msg === 'string' && line.msg.startsWith('cluster: Redis 6.0.16 is older than 6.2'));
    assert.equal(refused.level, 'error');
    for (let n = 0; n < 2; n += 1) {
      assert.equal((await fetchRaw(new URL('/photo.jpg?m=ic', proxy.url))).status, 200);
      await fetchRaw(new URL('api/idle', admin));
    }
    assert.equal((await fetchRaw(new URL('/photo.jpg?m=ic', proxy.url))).headers['cache-control'], 'public, no-transform, max-age=600');
    assert.match((await fetchRaw(new URL('metrics', admin))).body.toString(), /^slimproxy_cluster_connected 0$/m);
    const asked = [...new Set(redis.asked.map((name) => name.split(' ')[0]))].sort();
    // The subscriber connection's SUBSCRIBE is refused too; no data command was sent.
    assert.deepEqual(asked.filter((name) => !['CLIENT', 'INFO', 'SUBSCRIBE'].includes(name!)), []);
  });
});
