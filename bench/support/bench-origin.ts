import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NGINX, startNginx } from '../../test/support/nginx.js';
import { startModule } from './start-module.js';

export interface BenchOrigin {
  readonly url: string;
  readonly server: 'nginx' | 'node (send)';
  stop(): Promise<void>;
}

/** How old the files say they are: a legacy site's images and stylesheets were last changed long ago. */
const AGE_DAYS = 30;

/**
 * The origin of the request-path bench: every file twice, under /fresh/ (served with `max-age=3600`) and under
 * /plain/ (only `Last-Modified` and `ETag`, as most legacy servers send), all last modified 30 days ago. Debian's
 * nginx (one worker) when installed, else a Node server with `send` in a process of its own.
 */
export async function startBenchOrigin(files: ReadonlyMap<string, Buffer | string>): Promise<BenchOrigin> {
  const modifiedAt = new Date(Date.now() - AGE_DAYS * 86_400_000);
  const both = new Map([...files].flatMap(([path, bytes]) => [[`fresh/${path}`, bytes], [`plain/${path}`, bytes]] as const));
  if (existsSync(NGINX)) {
    const nginx = await startNginx([{ name: 'bench', files: Object.fromEntries(both), modifiedAt, directives: 'location /fresh/ { expires 1h; }' }]);
    return { url: nginx.url, server: 'nginx', stop: () => nginx.stop() };
  }
  const root = join(mkdtempSync(join(tmpdir(), 'slimproxy-bench-origin-')), 'root');
  for (const [path, bytes] of both) {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    utimesSync(file, modifiedAt, modifiedAt);
  }
  const node = await startModule('bench/support/static-origin.ts', [root]);
  return { url: node.url, server: 'node (send)', stop: () => node.stop() };
}
