import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/log.js';
import { type RunningSlimproxy, startSlimproxy } from '../../src/slimproxy.js';

export const PROJECT_ROOT = new URL('../../', import.meta.url);

export interface ProxyOptions {
  /** An origin URL, or "embedded" for the demo site. */
  readonly origin: URL | string;
  /** Extra attributes of `<origin>`, e.g. `timeout="1" host="client"`. */
  readonly originAttributes?: string;
  /** Extra elements inside `<config>`. */
  readonly elements?: string;
  /** Extra attributes of `<listen>` (loopback, ephemeral port), e.g. `idle-timeout="3"`. */
  readonly listenAttributes?: string;
}

/** The config document a test proxy runs with: loopback, ephemeral port, plus what the test adds. */
export function testConfigXml(options: ProxyOptions): string {
  const origin = typeof options.origin === 'string' ? options.origin : options.origin.href;
  // Every test proxy gets a store of its own, never the project's var/store.
  const store = options.elements?.includes('<store') ? '' : `<store path="${mkdtempSync(join(tmpdir(), 'slimproxy-store-'))}" max-size="256MiB"/>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<config>
  <listen address="127.0.0.1" port="0" ${options.listenAttributes ?? ''}/>
  <origin url="${origin}" ${options.originAttributes ?? ''}/>
  ${store}
  ${options.elements?.includes('<admin') ? '' : '<admin address="127.0.0.1" port="0"/>'}
  ${options.elements ?? ''}
</config>
`;
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface TestProxy {
  readonly url: URL;
  readonly port: number;
  readonly running: RunningSlimproxy;
  /** The proxy's log lines so far, parsed. */
  readonly logs: LogLine[];
  stop(graceMs?: number): Promise<boolean>;
}

/** Starts the proxy in this process (fast; for everything but process-level behaviour). */
export async function startProxy(options: ProxyOptions): Promise<TestProxy> {
  const config = parseConfig(testConfigXml(options), 'test-config.xml');
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogLine);
      callback();
    },
  });
  const logger = createLogger('debug', sink);
  const running = await startSlimproxy(config, logger);
  return { url: running.url, port: Number(running.url.port), running, logs, stop: (graceMs = 1000) => running.stop(graceMs) };
}

export interface SpawnedProxy {
  readonly child: ChildProcess;
  readonly url: URL;
  readonly port: number;
  readonly lines: LogLine[];
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
}

/** Writes a config file into a fresh temporary folder and returns its path. */
export function writeTempConfig(xml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'slimproxy-test-'));
  const path = join(dir, 'config.xml');
  writeFileSync(path, xml);
  return path;
}

/** Runs `src/main.ts` as a child process, as a user would, and resolves when it listens. */
export function spawnProxy(configPath: string, env: NodeJS.ProcessEnv = {}): Promise<SpawnedProxy> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configPath], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const lines: LogLine[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        return;
      }
      lines.push(line);
      if (typeof line.url === 'string' && String(line.msg).startsWith('slimproxy is listening')) {
        const url = new URL(line.url);
        resolve({ child, url, port: Number(url.port), lines, exited });
      }
    });
    void exited.then((code) => reject(new Error(`proxy exited (${code}) before listening: ${stderr}`)));
  });
}

/** Runs `src/main.ts` expecting it to stop at once; resolves with its exit code and output. */
export function runProxyToExit(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Resolves with the first log line of a spawned proxy that matches, as soon as it is written. */
export function waitForLog(proxy: SpawnedProxy, predicate: (line: LogLine) => boolean): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = proxy.lines.find(predicate);
      if (!found) return;
      proxy.child.stdout?.off('data', onData);
      resolve(found);
    };
    // After readline has pushed the line: readline listens first, so a later listener sees it in `lines`.
    const onData = () => setImmediate(check);
    proxy.child.stdout?.on('data', onData);
    void proxy.exited.then(() => reject(new Error('proxy exited while waiting for a log line')));
    check();
  });
}
