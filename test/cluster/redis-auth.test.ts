import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../support/client.js';
import { type ClusterInstance, stopInstances } from '../support/cluster.js';
import { type LogLine, spawnProxy, testConfigXml, waitForLog, writeTempConfig } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const JOINED = 'cluster: joined (Redis available)';
const LOCAL_ONLY = 'cluster: Redis unavailable, serving in local-only mode until it returns';
const CONNECTING = 'cluster: connecting to Redis';
/** Distinctive, so that finding it in a log line cannot be a coincidence. */
const PASSWORD = 'Pw4slimproxyTest';
const WRONG_PASSWORD = 'Wrong4slimproxyTest';

/**
 * A slimproxy process in a cluster on `redisUrl` (the cluster is part of the image side: compression on), with
 * `env` added to its environment (NODE_EXTRA_CA_CERTS). It does not wait to join: some here never do.
 */
async function startInstance(name: string, redisUrl: string, env: NodeJS.ProcessEnv = {}): Promise<ClusterInstance> {
  const xml = testConfigXml({ origin: 'embedded', elements: `<image-compression/><cluster redis="${redisUrl}" instance="${name}"/>` });
  const proxy = await spawnProxy(writeTempConfig(xml), env);
  const admin = new URL(String((await waitForLog(proxy, (line) => typeof line.admin === 'string')).admin));
  return { proxy, admin };
}

async function connectedMetric({ admin }: ClusterInstance): Promise<string | undefined> {
  return /^slimproxy_cluster_connected (\d)$/m.exec((await fetchRaw(new URL('metrics', admin))).body.toString())?.[1];
}

/** `url` with another password. */
function withPassword(url: string, password: string): string {
  const other = new URL(url);
  other.password = password;
  return other.href;
}

function assertNoPassword(lines: readonly LogLine[]): void {
  const text = lines.map((line) => JSON.stringify(line)).join('\n');
  assert.ok(!text.includes(PASSWORD) && !text.includes(WRONG_PASSWORD), `a password is in the log:\n${text}`);
}

describe('<cluster>: a Redis that requires a password (requirepass)', () => {
  let redis: TestRedis;
  const instances: ClusterInstance[] = [];
  before(async () => {
    redis = await startRedis({ password: PASSWORD });
  });
  after(async () => {
    await stopInstances(instances);
    await redis.stop();
  });

  it('is joined with the password in the URL, which the log shows as ***', { timeout: 60_000 }, async () => {
    const instance = await startInstance('right', redis.url);
    instances.push(instance);
    await waitForLog(instance.proxy, (line) => line.msg === JOINED);
    assert.equal(await connectedMetric(instance), '1');
    const connecting = await waitForLog(instance.proxy, (line) => line.msg === CONNECTING);
    assert.equal(connecting.redis, `redis://:***@127.0.0.1:${redis.port}/0`);
    assertNoPassword(instance.proxy.lines);
  });

  it('is not joined with a wrong password: local-only, the reason logged without the password', { timeout: 60_000 }, async () => {
    const instance = await startInstance('wrong', withPassword(redis.url, WRONG_PASSWORD));
    instances.push(instance);
    const unavailable = await waitForLog(instance.proxy, (line) => line.msg === LOCAL_ONLY);
    assert.equal(unavailable.level, 'warn');
    assert.match(String(unavailable.error), /WRONGPASS/);
    assert.equal(await connectedMetric(instance), '0');
    assert.equal(instance.proxy.lines.filter((line) => line.msg === JOINED).length, 0);
    assertNoPassword(instance.proxy.lines);
  });
});

describe('<cluster>: a Redis that speaks only TLS (rediss://), with a self-signed certificate', () => {
  let redis: TestRedis;
  let certFile: string;
  let url: string;
  const instances: ClusterInstance[] = [];
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slimproxy-redis-tls-'));
    certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    // The certificate names 127.0.0.1 (an IP SAN): Node checks the address the client connects to against it.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    redis = await startRedis({ password: PASSWORD, tls: { certFile, keyFile } });
    // The `default` user named: AUTH with a user and a password, as for a Redis 6 ACL user.
    const withUser = new URL(redis.url);
    withUser.username = 'default';
    url = withUser.href;
  });
  after(async () => {
    await stopInstances(instances);
    await redis.stop();
  });

  it('is joined when its certificate is trusted (NODE_EXTRA_CA_CERTS)', { timeout: 60_000 }, async () => {
    const instance = await startInstance('trusting', url, { NODE_EXTRA_CA_CERTS: certFile });
    instances.push(instance);
    await waitForLog(instance.proxy, (line) => line.msg === JOINED);
    assert.equal(await connectedMetric(instance), '1');
    const connecting = await waitForLog(instance.proxy, (line) => line.msg === CONNECTING);
    assert.equal(connecting.redis, `rediss://default:***@127.0.0.1:${redis.port}/0`);
    assertNoPassword(instance.proxy.lines);
  });

  it('is not joined when its certificate is not trusted: the server certificate is verified by default', { timeout: 60_000 }, async () => {
    const instance = await startInstance('untrusting', url, { NODE_EXTRA_CA_CERTS: undefined });
    instances.push(instance);
    const unavailable = await waitForLog(instance.proxy, (line) => line.msg === LOCAL_ONLY);
    assert.match(String(unavailable.error), /self[- ]signed certificate/);
    assert.equal(await connectedMetric(instance), '0');
    assertNoPassword(instance.proxy.lines);
  });
});
