import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const root = new URL('../../', import.meta.url);

export interface Started {
  readonly child: ChildProcess;
  /** What the process printed as its first JSON line naming a `url`. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts a module of the project (TypeScript through tsx, or built JavaScript) as a process of its own and waits for the JSON line naming its `url`
 * (a log line of slimproxy's, or a bench helper's); the rest of its stdout is read and dropped.
 */
export async function startModule(module: string, args: readonly string[], nodeArgs: readonly string[] = []): Promise<Started> {
  const child = spawn(process.execPath, [...nodeArgs, ...(module.endsWith('.ts') ? ['--import', 'tsx'] : []), module, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MALLOC_ARENA_MAX: '2' } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { url?: string };
        if (parsed.url) {
          resolve(parsed.url);
          // Read on and drop: a full pipe would stop the process.
          lines.removeAllListeners('line');
          child.stdout.resume();
        }
      } catch {
        // not a JSON line
      }
    });
    exited.then(() => reject(new Error(`${module} exited before it was listening`)), reject);
  });
  return {
    child,
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
