import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

/** Debian's Varnish (installed by .ci/run): the daemon, and the tools that read its shared memory and CLI. */
export const VARNISHD = process.env.SLIMPROXY_VARNISHD ?? '/usr/sbin/varnishd';
export const VARNISHADM = process.env.SLIMPROXY_VARNISHADM ?? '/usr/bin/varnishadm';
export const VARNISHSTAT = process.env.SLIMPROXY_VARNISHSTAT ?? '/usr/bin/varnishstat';

const run = promisify(execFile);

export interface VarnishOptions {
  /** The loopback port Varnish sends what it does not answer from its cache to (the proxy's). */
  readonly backendPort: number;
  /**
   * VCL subroutines, written after `vcl 4.1;` and the backend; Varnish's built-in VCL runs after each unless it
   * returns. Without: the built-in VCL alone, as `varnishd -b` runs it.
   */
  readonly vcl?: string;
}

export interface TestVarnish {
  readonly url: URL;
  readonly port: number;
  /** Counters of `varnishstat -1 -j` by name (`MAIN.cache_hit`, `MAIN.cache_miss`, …). */
  counters(...names: string[]): Promise<Record<string, number>>;
  /** Stops varnishd (SIGTERM: the manager stops its child) and resolves when it has exited. */
  stop(): Promise<void>;
}

/** Resolves once the manager says its child (the process that serves) runs; rejects with its output if it exits. */
function launch(args: readonly string[]): Promise<ChildProcess> {
  // With -F everything varnishd says goes to stderr: the start-up lines, and a VCL compiler error.
  const child = spawn(VARNISHD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const said: string[] = [];
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      said.push(line);
      if (line.includes('Child launched OK')) resolve(child);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`varnishd exited (${code}) before it served:\n${said.join('\n')}`)));
  });
}

/**
 * A varnishd of the test's own in front of `backendPort`, on a loopback port the system chose, its working
 * directory (shared memory log, compiled VCL, CLI secret) a fresh temporary one, its cache 64 MiB of memory.
 * `-j none`: no privilege separation (the unix jail wants to switch to the `varnish` user, which cannot write
 * the test's temporary directory; an unprivileged user cannot switch at all).
 */
export async function startVarnish(options: VarnishOptions): Promise<TestVarnish> {
  const dir = mkdtempSync(join(tmpdir(), 'slimproxy-varnish-'));
  const backend = ['-b', `127.0.0.1:${options.backendPort}`];
  if (options.vcl !== undefined) {
    const file = join(dir, 'test.vcl');
    writeFileSync(file, `vcl 4.1;\n\nbackend proxy {\n  .host = "127.0.0.1";\n  .port = "${options.backendPort}";\n}\n\n${options.vcl}\n`);
    backend.splice(0, 2, '-f', file);
  }
  const args = ['-n', dir, '-F', '-j', 'none', '-a', '127.0.0.1:0', ...backend, '-s', 'malloc,64m', '-p', 'vsl_space=1M', '-p', 'thread_pool_min=10'];
  let child: ChildProcess | undefined = await launch(args);
  try {
    // "a0 127.0.0.1 39851": the port the listener got.
    const { stdout } = await run(VARNISHADM, ['-n', dir, 'debug.listen_address']);
    const port = Number(/^\S+ 127\.0\.0\.1 (\d+)$/m.exec(stdout)?.[1]);
    if (!Number.isInteger(port) || port <= 0) throw new Error(`varnishadm debug.listen_address said: ${stdout}`);
    return {
      url: new URL(`http://127.0.0.1:${port}/`),
      port,
      async counters(...names) {
        const { stdout: json } = await run(VARNISHSTAT, ['-n', dir, '-1', '-j', ...names.flatMap((name) => ['-f', name])]);
        const parsed = JSON.parse(json) as { counters: Record<string, { value: number }> };
        return Object.fromEntries(Object.entries(parsed.counters).map(([name, counter]) => [name, counter.value]));
      },
      async stop() {
        await stopped(child);
        child = undefined;
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopped(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopped(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}
