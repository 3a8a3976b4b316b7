import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capabilitiesFromAccept } from '../../src/client/index.js';

describe('capabilities from Accept (SPEC §7)', () => {
  it('reads the image types a browser lists', () => {
    assert.deepEqual(capabilitiesFromAccept('image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8'), { webp: true, avif: true, zorro: false });
    assert.deepEqual(capabilitiesFromAccept('image/webp,*/*'), { webp: true, avif: false, zorro: false });
    assert.deepEqual(capabilitiesFromAccept('*/*'), { webp: false, avif: false, zorro: false });
    assert.deepEqual(capabilitiesFromAccept(undefined), { webp: false, avif: false, zorro: false });
    assert.deepEqual(capabilitiesFromAccept('image/webp;q=0, image/avif'), { webp: false, avif: true, zorro: false });
  });
});
