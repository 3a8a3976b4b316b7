import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './ports.js';

/** Debian's redis-server (installed by .ci/run). */
export const REDIS_SERVER = process.env.SLIMPROXY_REDIS_SERVER ?? '/usr/bin/redis-server';

export interface TestRedis {
  /** The URL that connects: rediss:// with `tls`, and with the password if one is required. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM, or SIGKILL with `hard`) and resolves when it has exited. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port (after `stop`). */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, commands get no answer, as with a hung Redis. */
  pause(): void;
  /** Lets a paused server go on (SIGCONT). */
  resume(): void;
}

/** Resolves once the server says it accepts connections. */
function launch(dir: string, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('Ready to accept connections')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready`)));
  });
}

export interface TestRedisOptions {
  /** It publishes `__keyevent@0__:expired` (a test can wait for a lease to lapse instead of sleeping). */
  readonly expiryEvents?: boolean;
  /** It requires this password (`requirepass`: the `default` user's) of every connection. */
  readonly password?: string;
  /** It speaks only TLS, with this certificate and key (PEM files); clients are not asked for a certificate. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

/** A redis-server of the test's own, on a free loopback port, nothing persisted. */
export async function startRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'slimproxy-redis-'));
  const args = options.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  if (options.expiryEvents) args.push('--notify-keyspace-events', 'Ex');
  if (options.password !== undefined) args.push('--requirepass', options.password);
  let child: ChildProcess | undefined = await launch(dir, args);
  const url = new URL(`${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}/0`);
  if (options.password !== undefined) url.password = options.password;
  return {
    url: url.href,
    port,
    async stop(hard = false) {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill(hard ? 'SIGKILL' : 'SIGTERM');
      await exited;
    },
    async restart() {
      child ??= await launch(dir, args);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
  };
}
