import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { sniffImageType } from '../../src/images/probe.js';
import { structuralFault } from '../../src/images/structure.js';
import { PROJECT_ROOT } from '../support/proxy.js';

/** Every image file under `dir`, recursively. */
function imagesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return imagesUnder(path);
    return /\.(jpe?g|png|gif|webp|avif)$/i.test(entry.name) ? [path] : [];
  });
}

/** The fixture images (not the deliberately bad ones), and a few of them in every format written here, animated too. */
async function corpus(): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const dir of ['fixtures/site', 'fixtures/photos']) {
    for (const path of imagesUnder(fileURLToPath(new URL(dir, PROJECT_ROOT)))) files.set(path, readFileSync(path));
  }
  const sources = [...files.entries()].filter(([path]) => /\.(jpg|png)$/.test(path)).slice(0, 6);
  for (const [path, bytes] of sources) {
    const image = sharp(bytes).resize(320, 320, { fit: 'inside' });
    files.set(`${path}.webp`, await image.clone().webp().toBuffer());
    files.set(`${path}.lossless.webp`, await image.clone().webp({ lossless: true }).toBuffer());
    files.set(`${path}.avif`, await image.clone().avif().toBuffer());
    files.set(`${path}.gif`, await image.clone().gif().toBuffer());
  }
  const animated = readFileSync(fileURLToPath(new URL('fixtures/site/img/icons/new.gif', PROJECT_ROOT)));
  files.set('new.gif as animated WebP', await sharp(animated, { animated: true }).webp().toBuffer());
  files.set('new.gif re-encoded', await sharp(animated, { animated: true }).gif().toBuffer());
  return files;
}

describe('structural faults: found in files cut short, never in whole ones', () => {
  it('no fault in any whole file; a fault at every cut inside it (property over fixtures and encodings)', async () => {
    const files = await corpus();
    const types = new Set<string>();
    for (const [name, bytes] of files) {
      const type = sniffImageType(bytes);
      if (type === undefined || type === 'svg') continue;
      types.add(type);
      assert.equal(structuralFault(type, bytes), undefined, `${name}: whole`);
      // Cuts at many places: inside the headers, the data, the last bytes.
      const cuts = new Set([20, 100, ...[0.1, 0.3, 0.5, 0.7, 0.9].map((f) => Math.floor(bytes.length * f)), bytes.length - 3]);
      for (const cut of cuts) {
        if (cut <= 12 || cut >= bytes.length) continue;
        const fault = structuralFault(type, bytes.subarray(0, cut));
        assert.match(String(fault), /truncated|damaged/, `${name} (${type}) cut at ${cut} of ${bytes.length}`);
      }
    }
    assert.deepEqual([...types].sort(), ['avif', 'gif', 'jpeg', 'png', 'webp']);
  });

  it('stray bytes after a whole file and a GIF without its trailer byte are no fault (decoders show them whole)', async () => {
    const files = await corpus();
    for (const [name, bytes] of files) {
      const type = sniffImageType(bytes);
      if (type === undefined || type === 'svg') continue;
      assert.equal(structuralFault(type, Buffer.concat([bytes, Buffer.from('\n\n\n')])), undefined, `${name} + 3 bytes`);
      if (type === 'gif') assert.equal(structuralFault(type, bytes.subarray(0, bytes.length - 1)), undefined, `${name} without trailer`);
    }
  });
});
