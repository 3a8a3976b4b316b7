import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './ports.js';

/** Debian's nginx (installed by .ci/run). */
export const NGINX = process.env.SLIMPROXY_NGINX ?? '/usr/sbin/nginx';

export interface VirtualHost {
  /** `server_name`. The first host is the default server (what a request naming no known host gets). */
  readonly name: string;
  /** Files served, by path (`/logo.jpg` → bytes). */
  readonly files: Readonly<Record<string, Buffer | string>>;
  /** When the files say they were last modified (now by default). */
  readonly modifiedAt?: Date;
  /** More directives inside the `server` block (`location /fresh/ { expires 1h; }`). */
  readonly directives?: string;
}

export interface TestNginx {
  readonly port: number;
  /** The address of the default server, as a proxy's origin URL. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * An nginx of the test's own with name-based virtual hosts on one loopback port, as a legacy site's server is set
 * up: it picks the server by the `Host` header, or by the host of an absolute-form request target.
 */
export async function startNginx(hosts: readonly VirtualHost[]): Promise<TestNginx> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'slimproxy-nginx-'));
  const servers = hosts.map((host, i) => {
    const root = join(dir, `root-${i}`);
    for (const [path, bytes] of Object.entries(host.files)) {
      const file = join(root, path);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, bytes);
      if (host.modifiedAt) utimesSync(file, host.modifiedAt, host.modifiedAt);
    }
    return `  server {
    listen 127.0.0.1:${port}${i === 0 ? ' default_server' : ''};
    server_name ${host.name};
    root ${root};
    etag on;
    ${host.directives ?? ''}
  }`;
  });
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
error_log stderr notice;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  types { image/jpeg jpg; image/png png; image/gif gif; image/webp webp; image/svg+xml svg; text/html html; text/css css; application/javascript js; font/woff2 woff2; }
  default_type application/octet-stream;
${servers.join('\n')}
}
`,
  );
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let log = '';
  await new Promise<void>((resolve, reject) => {
    // nginx logs each worker it starts (error_log at notice): then it accepts connections.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      log += `${line}\n`;
      if (line.includes('start worker process')) resolve();
    });
    void exited.then(() => reject(new Error(`nginx exited before it was ready:\n${log}`)));
  });
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
