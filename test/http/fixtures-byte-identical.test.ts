import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO_SITE_ROOT } from '../../src/embedded/static-origin.js';
import { fetchRaw } from '../support/client.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('non-HTML files of the demo site pass through byte for byte', () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startProxy({ origin: 'embedded' });
  });
  after(() => proxy.stop());

  const files = filesUnder(DEMO_SITE_ROOT).filter((file) => !/\.html?$/i.test(file));

  it('the demo site has images, stylesheets and more to check', () => {
    assert.ok(files.length >= 20, `${files.length} files`);
    for (const ext of ['.jpg', '.png', '.gif', '.css']) assert.ok(files.some((f) => f.endsWith(ext)), ext);
  });

  for (const file of files) {
    const path = '/' + relative(DEMO_SITE_ROOT, file).split(sep).map(encodeURIComponent).join('/');
    it(path, async () => {
      const onDisk = sha256(readFileSync(file));
      const direct = await fetchRaw(new URL(path, proxy.running.origin));
      const proxied = await fetchRaw(new URL(path, proxy.url));
      assert.equal(direct.status, 200);
      assert.equal(proxied.status, 200);
      assert.equal(sha256(direct.body), onDisk);
      assert.equal(sha256(proxied.body), sha256(direct.body));
      assert.equal(proxied.headers['content-type'], direct.headers['content-type']);
      assert.equal(proxied.headers.etag, direct.headers.etag);
    });
  }
});
