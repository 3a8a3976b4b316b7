import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const WRK = process.env.SLIMPROXY_WRK ?? '/usr/bin/wrk';
const root = new URL('../../', import.meta.url);

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly requests: number;
  /** Responses with a status of 400 or more, connections refused or broken, timeouts. */
  readonly failed: number;
  readonly tool: 'wrk' | 'autocannon';
}

export interface LoadOptions {
  readonly seconds: number;
  readonly connections: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Which load generator runs: wrk (Debian's, written in C: it takes less of the shared CPU) when installed. */
export const LOAD_TOOL: LoadResult['tool'] = existsSync(WRK) ? 'wrk' : 'autocannon';

/**
 * Requests to `urls` (one origin, taken in turn) from a process of its own, for `seconds` on `connections`
 * keep-alive connections: wrk with 2 threads, else autocannon.
 */
export async function load(urls: readonly string[], options: LoadOptions): Promise<LoadResult> {
  const base = new URL(urls[0]!);
  const paths = urls.map((url) => new URL(url).pathname + new URL(url).search);
  const headers = Object.entries(options.headers ?? {});
  if (LOAD_TOOL === 'autocannon') {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/load-client.ts', String(options.seconds), String(options.connections), JSON.stringify(Object.fromEntries(headers)), ...urls], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
    const result = JSON.parse(stdout) as { requests: number; total: number; non2xx: number; errors: number; timeouts: number };
    return { requestsPerSecond: result.requests, requests: result.total, failed: result.non2xx + result.errors + result.timeouts, tool: 'autocannon' };
  }
  const script = join(mkdtempSync(join(tmpdir(), 'slimproxy-wrk-')), 'paths.lua');
  writeFileSync(
    script,
    `local paths = { ${paths.map((path) => JSON.stringify(path)).join(', ')} }
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, paths[(i % #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "us": %d, "failed": %d}\\n', summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout))
end
`,
  );
  const args = ['-t2', `-c${options.connections}`, `-d${options.seconds}s`, '--timeout', '10s', '-s', script, ...headers.flatMap(([name, value]) => ['-H', `${name}: ${value}`]), base.origin + paths[0]];
  const { stdout } = await promisify(execFile)(WRK, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = stdout.trim().split('\n').at(-1)!;
  const result = JSON.parse(last) as { requests: number; us: number; failed: number };
  return { requestsPerSecond: result.requests / (result.us / 1e6), requests: result.requests, failed: result.failed, tool: 'wrk' };
}
