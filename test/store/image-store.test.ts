import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { ImageStore, sha256, storedCost } from '../../src/store/image-store.js';
import { UTF8_KEYS } from '../../src/store/keys.js';
import type { OriginalRecord, VariantRecord } from '../../src/store/records.js';
import { writeOldLayoutStore } from '../support/old-store.js';
import { PROJECT_ROOT } from '../support/proxy.js';

const freshPath = () => join(mkdtempSync(join(tmpdir(), 'slimproxy-store-')), 'store');
const photo = readFileSync(new URL('fixtures/site/img/photos/night-lights.jpg', PROJECT_ROOT));

function originalRecord(url: string, bytes: Buffer, etag = '"1"'): OriginalRecord {
  return { url, digest: sha256(bytes), size: bytes.length, contentType: 'image/jpeg', etag, validatedAt: Date.now() };
}

/** A request of a stored original counted and written (the proxy's counts are written in batches: see `noteRequest`). */
async function countRequest(store: ImageStore, url: string, now?: number): Promise<void> {
  store.noteRequest(url, now);
  await store.flushRequests();
}

/** An original stored and read once (so checked), and another version of it of the same length. */
async function storedAndChecked(store: ImageStore, url: string, size: number): Promise<{ record: OriginalRecord; v2: Buffer }> {
  const v1 = Buffer.alloc(size, 7);
  const record = originalRecord(url, v1);
  await store.putOriginal(record, v1);
  assert.ok((await store.getOriginalBytes(record))?.equals(v1), 'checked once');
  const v2 = Buffer.from(v1);
  v2.write('another version', 100);
  return { record, v2 };
}

function variantRecord(original: Buffer, bytes: Buffer): VariantRecord {
  return {
    originalDigest: sha256(original),
    digest: sha256(bytes),
    size: bytes.length,
    experiment: 'webp',
    format: 'webp',
    contentType: 'image/webp',
    quality: 80,
    dssim: 0.0015,
    createdAt: Date.now(),
  };
}

describe('the image store (LMDB)', () => {
  it('keeps originals and variants across a restart', async () => {
    const path = freshPath();
    const store = new ImageStore(path, 100 * 2 ** 20);
    const variant = Buffer.from('pretend webp bytes');
    await store.putOriginal(originalRecord('/a.jpg', photo), photo);
    await store.putVariant('/a.jpg', 'ic,webp', variantRecord(photo, variant), variant);
    await store.putProgress('/a.jpg', { originalDigest: sha256(photo), settings: 's', done: ['jpeg', 'webp'] });
    await countRequest(store, '/a.jpg');
    await store.close();

    const reopened = new ImageStore(path, 100 * 2 ** 20);
    const original = reopened.getOriginal('/a.jpg');
    assert.ok(original);
    assert.deepEqual(await reopened.getOriginalBytes(original), photo);
    assert.deepEqual((await reopened.getVariant('/a.jpg', 'ic,webp'))?.bytes, variant);
    assert.equal(await reopened.getVariant('/a.jpg', 'ic'), undefined);
    assert.deepEqual(reopened.getProgress('/a.jpg')?.done, ['jpeg', 'webp']);
    assert.equal(reopened.getRequests('/a.jpg')?.count, 1);
    assert.equal(reopened.size, storedCost('/a.jpg', undefined, photo.length) + storedCost('/a.jpg', 'ic,webp', variant.length));
    await reopened.close();
  });

  it('large bytes are read in slices from one snapshot: writes meanwhile (a new version, others) never mix in', async () => {
    const store = new ImageStore(freshPath(), 1024 * 2 ** 20);
    // Over 16 MiB: lmdb hands out a view of its map, copied out over several event-loop turns.
    const first = Buffer.alloc(40 * 2 ** 20, 0x11);
    const second = Buffer.alloc(40 * 2 ** 20, 0x22);
    first.write('first', 20 * 2 ** 20);
    await store.putOriginal(originalRecord('/big.jpg', first), first);
    for (let round = 0; round < 3; round += 1) {
      const reading = store.getOriginalBytes(originalRecord('/big.jpg', first));
      // Written while the read copies: a new version of the same image, then others that may take freed pages.
      const writes = [store.putOriginal(originalRecord('/big.jpg', second, '"2"'), second), store.putOriginal(originalRecord(`/other${round}.jpg`, first), first)];
      const bytes = await reading;
      await Promise.all(writes);
      assert.ok(bytes?.equals(first), `round ${round}: the version the read began with, whole`);
      // And back, for the next round.
      await store.putOriginal(originalRecord('/big.jpg', first), first);
    }
    // Mid-sized values (lmdb's reusable buffer) too, read at once.
    const middle = Buffer.alloc(6 * 2 ** 20, 0x33);
    await store.putOriginal(originalRecord('/mid.jpg', middle), middle);
    const [a, b] = await Promise.all([store.getOriginalBytes(originalRecord('/mid.jpg', middle)), store.getOriginalBytes(originalRecord('/big.jpg', first))]);
    assert.ok(a?.equals(middle));
    assert.ok(b?.equals(first));
    await store.close();
  });

  it('large bytes lent in place: no copy, unchanged by writes while lent, given back once; close waits for them', async () => {
    const store = new ImageStore(freshPath(), 1024 * 2 ** 20);
    const first = Buffer.alloc(40 * 2 ** 20, 0x44);
    first.write('first', 30 * 2 ** 20);
    const second = Buffer.alloc(40 * 2 ** 20, 0x55);
    await store.putOriginal(originalRecord('/big.jpg', first), first);
    const lent = await store.lendOriginalBytes(originalRecord('/big.jpg', first));
    assert.ok(lent?.inPlace, 'a view of the map');
    assert.ok(lent.bytes.buffer.byteLength > lent.bytes.length, 'no buffer of its own: nothing was copied');
    assert.equal(store.lentOut, 1);
    // A new version and other writes that would take the pages freed by the old one, while it is lent.
    await store.putOriginal(originalRecord('/big.jpg', second, '"2"'), second);
    for (let i = 0; i < 4; i += 1) await store.putOriginal(originalRecord(`/other${i}.jpg`, second), second);
    assert.ok(lent.bytes.equals(first), 'the lent version, whole, after the writes');
    lent.release();
    lent.release();
    assert.equal(store.lentOut, 0, 'given back once');
    // The new version, in place; an old record no longer names bytes that exist.
    const now = await store.lendOriginalBytes(originalRecord('/big.jpg', second));
    assert.ok(now?.bytes.equals(second));
    assert.equal(await store.lendOriginalBytes(originalRecord('/big.jpg', first)), undefined);
    // Mid-sized bytes come as memory of their own.
    const middle = Buffer.alloc(6 * 2 ** 20, 0x66);
    await store.putOriginal(originalRecord('/mid.jpg', middle), middle);
    const mid = await store.lendOriginalBytes(originalRecord('/mid.jpg', middle));
    assert.equal(mid?.inPlace, false);
    assert.ok(mid.bytes.equals(middle));
    // Closing unmaps the views: it waits until the last is given back.
    let closed = false;
    const closing = store.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closed, false, 'still open while a view is lent');
    now!.release();
    await closing;
    assert.equal(closed, true);
  });

  it('large bytes written ahead of their record: sizes counted, a changed original replaces them, a crash leaves no orphan', async () => {
    const path = freshPath();
    const store = new ImageStore(path, 1024 * 2 ** 20);
    const v1 = Buffer.alloc(8 * 2 ** 20, 1);
    const v2 = Buffer.alloc(6 * 2 ** 20, 2);
    const variant = Buffer.alloc(5 * 2 ** 20, 3);
    await store.putOriginal(originalRecord('/large.jpg', v1), v1);
    await store.putVariant('/large.jpg', 'ic', variantRecord(v1, variant), variant);
    assert.equal(store.size, storedCost('/large.jpg', undefined, v1.length) + storedCost('/large.jpg', 'ic', variant.length));
    assert.ok((await store.getOriginalBytes(originalRecord('/large.jpg', v1)))?.equals(v1));
    assert.ok((await store.getVariant('/large.jpg', 'ic'))?.bytes.equals(variant));
    // The origin changed it: new bytes, the variant gone, the size what is held.
    await store.putOriginal(originalRecord('/large.jpg', v2, '"2"'), v2);
    assert.equal(store.size, storedCost('/large.jpg', undefined, v2.length));
    assert.equal(await store.getVariant('/large.jpg', 'ic'), undefined);
    assert.equal(await store.getOriginalBytes(originalRecord('/large.jpg', v1)), undefined, 'the old record finds no bytes of its own');
    assert.ok((await store.getOriginalBytes(originalRecord('/large.jpg', v2)))?.equals(v2));
    // A variant whose original changed meanwhile leaves no bytes behind.
    await store.putVariant('/large.jpg', 'ic', variantRecord(v1, variant), variant);
    assert.equal(store.size, storedCost('/large.jpg', undefined, v2.length));
    await store.close();
    // Bytes without a record (a crash between the bytes and their record): removed at the next start.
    const raw = open({ path, compression: false });
    const bytes = raw.openDB({ name: 'bytes', encoding: 'binary', ...UTF8_KEYS });
    await bytes.put('o\u0000/crashed.jpg', v1);
    await bytes.put('v\u0000/large.jpg\u0000ic,webp', variant);
    await raw.close();
    const reopened = new ImageStore(path, 1024 * 2 ** 20);
    await reopened.close();
    const after = open({ path, compression: false });
    const left = [...after.openDB({ name: 'bytes', encoding: 'binary', ...UTF8_KEYS }).getKeys()];
    await after.close();
    assert.deepEqual(left, ['o\u0000/large.jpg']);
  });

  it('what a check found is tied to the bytes read: bytes replaced under a record already checked are caught', async () => {
    const path = freshPath();
    const store = new ImageStore(path, 1024 * 2 ** 20);
    // Large bytes, which may be written ahead of their record (small ones go with it: see the next test).
    for (const size of [2 * 2 ** 20, 300 * 1024]) {
      const url = `/replaced${size}.jpg`;
      const { record, v2 } = await storedAndChecked(store, url, size);
      // Other bytes of the same length under the key, behind the store's back (as a write racing a read would).
      const raw = open({ path, compression: false });
      await raw.openDB({ name: 'bytes', encoding: 'binary', ...UTF8_KEYS }).put(`o\u0000${url}`, v2);
      assert.equal(await store.getOriginalBytes(record), undefined, `${size} bytes: not passed off as the checked ones`);
    }
    await store.close();
  });

  it('small bytes are trusted after one check only in a snapshot whose record names their digest', async () => {
    const path = freshPath();
    const store = new ImageStore(path, 1024 * 2 ** 20);
    const url = '/small.jpg';
    const { record, v2 } = await storedAndChecked(store, url, 20 * 1024);
    // Another version written with its record in one transaction (as the store writes small bytes), behind this
    // store's back: a response that read the old record before it must not get the new bytes under the old digest.
    const raw = open({ path, compression: false });
    await raw.transaction(() => {
      raw.openDB({ name: 'bytes', encoding: 'binary', ...UTF8_KEYS }).putSync(`o\u0000${url}`, v2);
      raw.openDB({ name: 'originals', ...UTF8_KEYS }).putSync(url, originalRecord(url, v2));
    });
    assert.equal(await store.getOriginalBytes(record), undefined, 'not passed off as the checked ones');
    assert.ok((await store.getOriginalBytes(originalRecord(url, v2)))?.equals(v2), 'the new version under its own digest');
    await store.close();
  });

  it('never hands out bytes that do not match their digest', async () => {
    const path = freshPath();
    const store = new ImageStore(path, 100 * 2 ** 20);
    const variant = Buffer.from('variant');
    await store.putOriginal(originalRecord('/b.jpg', photo), photo);
    await store.putVariant('/b.jpg', 'ic', variantRecord(photo, variant), variant);
    await store.close();
    // Damage the stored bytes behind the store's back, as a torn write would.
    const raw = open({ path, compression: false });
    const bytes = raw.openDB({ name: 'bytes', encoding: 'binary', ...UTF8_KEYS });
    await bytes.put('v\u0000/b.jpg\u0000ic', Buffer.from('variang'));
    await raw.close();
    const reopened = new ImageStore(path, 100 * 2 ** 20);
    assert.equal(await reopened.getVariant('/b.jpg', 'ic'), undefined);
    await reopened.close();
  });

  it('updates progress from what it is when written: two experiments ending together both count (hostile review)', async () => {
    const store = new ImageStore(freshPath(), 100 * 2 ** 20);
    await store.putOriginal(originalRecord('/e.jpg', photo), photo);
    const adding = (name: string) => (current: { done: readonly string[] } | undefined) => ({ originalDigest: sha256(photo), settings: 's', done: [...(current?.done ?? []), name] });
    // Both started before either is written: read-then-write would keep one of them.
    await Promise.all([store.updateProgress('/e.jpg', adding('avif')), store.updateProgress('/e.jpg', adding('webp'))]);
    assert.deepEqual([...store.getProgress('/e.jpg')!.done].sort(), ['avif', 'webp']);
    assert.ok(await store.updateProgress('/e.jpg', () => undefined), 'nothing to write is no failure');
    assert.deepEqual([...store.getProgress('/e.jpg')!.done].sort(), ['avif', 'webp']);
    await store.close();
  });

  it('keeps keys of any length across a restart: an image URL of 100+ characters and image-API slots, found and served (hostile review 19)', async () => {
    const path = freshPath();
    // Past 64 bytes lmdb's default key encoding read `url\0slot` back as an array: such variants were never found,
    // and a store holding one could not be opened again.
    const long = `/img/photo.jpg?v=${'a'.repeat(100)}`;
    const apiSlot = `api:${JSON.stringify({ format: 'webp', quality: 70, size: { width: 150 }, dpr: 1, algorithm: 'lanczos3' })}`;
    const [webp, api, short] = [Buffer.from('a webp outcome'), Buffer.from('an image-API result'), Buffer.from('an image-API result of a short URL')];
    let store = new ImageStore(path, 100 * 2 ** 20);
    await store.putOriginal(originalRecord(long, photo), photo);
    await store.putVariant(long, 'webp', variantRecord(photo, webp), webp);
    await store.putVariant(long, apiSlot, variantRecord(photo, api), api);
    await store.putProgress(long, { originalDigest: sha256(photo), settings: 's', done: ['webp'] });
    await countRequest(store, long);
    await store.putOriginal(originalRecord('/a.jpg', photo), photo);
    await store.putVariant('/a.jpg', apiSlot, variantRecord(photo, short), short);
    const slots = (url: string) => store.variantsOf(url).map(({ slot }) => slot).sort();
    assert.deepEqual(slots(long), [apiSlot, 'webp'], 'found while running');
    await store.close();

    store = new ImageStore(path, 100 * 2 ** 20);
    assert.deepEqual(slots(long), [apiSlot, 'webp'], 'found after the restart');
    assert.deepEqual(slots('/a.jpg'), [apiSlot]);
    assert.ok((await store.getVariant(long, apiSlot))?.bytes.equals(api));
    assert.ok((await store.getVariant('/a.jpg', apiSlot))?.bytes.equals(short));
    const lent = await store.lendVariant(long, 'webp');
    assert.ok(lent);
    assert.ok(lent.lent.bytes.equals(webp));
    lent.lent.release();
    assert.deepEqual(store.getProgress(long)?.done, ['webp']);
    assert.equal(store.getRequests(long)?.count, 1);
    assert.deepEqual(store.mostRequested(1).map(({ url }) => url), [long]);
    const expected = storedCost(long, undefined, photo.length) + storedCost(long, 'webp', webp.length) + storedCost(long, apiSlot, api.length) + storedCost('/a.jpg', undefined, photo.length) + storedCost('/a.jpg', apiSlot, short.length);
    assert.equal(store.size, expected, 'no bytes taken for orphans at open');
    // They go with their original: a new version drops every slot, long keys and all.
    const changed = Buffer.concat([photo, Buffer.from([1])]);
    await store.putOriginal(originalRecord(long, changed, '"2"'), changed);
    assert.deepEqual(store.variantsOf(long), []);
    assert.equal(store.size, storedCost(long, undefined, changed.length) + storedCost('/a.jpg', undefined, photo.length) + storedCost('/a.jpg', apiSlot, short.length));
    await store.close();
  });

  it('opens a store of the layout before (lmdb\'s default keys): its images are dropped, its savings history stays (hostile review 19)', async () => {
    const path = freshPath();
    const long = `/img/photo.jpg?v=${'b'.repeat(100)}`;
    const apiSlot = `api:${JSON.stringify({ format: 'webp', quality: 70, dpr: 1, algorithm: 'lanczos3' })}`;
    const minute = Date.UTC(2026, 0, 5, 12, 0);
    const history = [
      { period: 'minute' as const, at: minute, byOutcome: { variant: { original: 3000, sent: 1000 } } },
      { period: 'hour' as const, at: Date.UTC(2026, 0, 5, 12), byOutcome: { variant: { original: 3000, sent: 1000 } } },
    ];
    await writeOldLayoutStore(path, photo, [long, '/short.jpg'], apiSlot, history);

    const dropped: unknown[] = [];
    let store = new ImageStore(path, 100 * 2 ** 20, { events: { dropped: (detail) => dropped.push(detail) } });
    assert.deepEqual(dropped, [{ table: 'originals', entries: 2, why: 'older-layout' }]);
    for (const url of [long, '/short.jpg']) {
      assert.equal(store.getOriginal(url), undefined);
      assert.deepEqual(store.variantsOf(url), []);
      assert.equal(store.getProgress(url), undefined);
      assert.equal(store.getRequests(url), undefined);
    }
    assert.equal(store.size, 0);
    assert.deepEqual(store.savingsRecords(), history);
    // The images come back as they are fetched again, under keys that read back.
    const api = Buffer.from('an image-API result');
    await store.putOriginal(originalRecord(long, photo), photo);
    await store.putVariant(long, apiSlot, variantRecord(photo, api), api);
    await store.close();
    const raw = open({ path, compression: false });
    const left = [...raw.openDB({ name: 'bytes', encoding: 'binary', ...UTF8_KEYS }).getKeys()];
    await raw.close();
    assert.deepEqual(left, [`o\u0000${long}`, `v\u0000${long}\u0000${apiSlot}`], 'the old bytes are gone');

    store = new ImageStore(path, 100 * 2 ** 20, { events: { dropped: (detail) => dropped.push(detail) } });
    assert.equal(dropped.length, 1, 'dropped once');
    assert.deepEqual(store.variantsOf(long).map(({ slot }) => slot), [apiSlot]);
    assert.deepEqual(store.savingsRecords(), history);
    await store.close();
  });

  it('lists the variants of the current original, by slot', async () => {
    const store = new ImageStore(freshPath(), 100 * 2 ** 20);
    await store.putOriginal(originalRecord('/e.jpg', photo), photo);
    const [a, b] = [Buffer.from('avif outcome'), Buffer.from('webp outcome!')];
    await store.putVariant('/e.jpg', 'avif', variantRecord(photo, a), a);
    await store.putVariant('/e.jpg', 'webp', variantRecord(photo, b), b);
    assert.deepEqual(store.variantsOf('/e.jpg').map(({ slot, record }) => [slot, record.size]), [['avif', a.length], ['webp', b.length]]);
    const changed = Buffer.concat([photo, Buffer.from([0])]);
    await store.putOriginal(originalRecord('/e.jpg', changed, '"2"'), changed);
    assert.deepEqual(store.variantsOf('/e.jpg'), []);
    await store.close();
  });

  // Found by a review (2026-12-08): two staged writes of one URL at once were both counted, for good.
  it('counts what a URL holds after concurrent writes of it, large bytes (staged) or small', async () => {
    for (const [first, second] of [[5 << 20, (5 << 20) + 1], [5 << 20, 1000], [1000, (5 << 20) + 1]] as const) {
      const store = new ImageStore(freshPath(), 64 * 2 ** 20);
      const a = Buffer.alloc(first, 1);
      const b = Buffer.alloc(second, 2);
      await Promise.all([store.putOriginal(originalRecord('/race.jpg', a), a), store.putOriginal(originalRecord('/race.jpg', b, '"2"'), b)]);
      const held = store.getOriginal('/race.jpg')!;
      assert.ok((await store.getOriginalBytes(held))?.length === held.size, 'the record names the bytes kept');
      assert.equal(store.size, storedCost('/race.jpg', undefined, held.size), `${first} and ${second} at once`);
      await store.close();
    }
  });

  it('discards the variants of an original that changed', async () => {
    const store = new ImageStore(freshPath(), 100 * 2 ** 20);
    const variant = Buffer.from('old variant');
    await store.putOriginal(originalRecord('/c.jpg', photo), photo);
    await store.putVariant('/c.jpg', 'ic,webp', variantRecord(photo, variant), variant);
    await store.putProgress('/c.jpg', { originalDigest: sha256(photo), settings: 's', done: ['jpeg'] });
    const changed = Buffer.concat([photo, Buffer.from([0])]);
    await store.putOriginal(originalRecord('/c.jpg', changed, '"2"'), changed);
    assert.equal(await store.getVariant('/c.jpg', 'ic,webp'), undefined);
    assert.equal(store.getProgress('/c.jpg'), undefined);
    assert.equal(store.size, storedCost('/c.jpg', undefined, changed.length));
    // A variant made from the old bytes is refused.
    await store.putVariant('/c.jpg', 'ic,webp', variantRecord(photo, variant), variant);
    assert.equal(await store.getVariant('/c.jpg', 'ic,webp'), undefined);
    await store.close();
  });

  it('stays within max-size, the least recently requested first out', async () => {
    const store = new ImageStore(freshPath(), 5 * photo.length + 1000);
    for (let i = 0; i < 12; i += 1) {
      const bytes = Buffer.concat([photo, Buffer.from(String(i))]);
      await store.putOriginal(originalRecord(`/p${i}.jpg`, bytes), bytes);
      await countRequest(store, `/p${i}.jpg`, 1000 + i);
      assert.ok(store.size <= store.maxBytes, `after ${i}: ${store.size}`);
    }
    assert.ok(store.getOriginal('/p11.jpg') && store.getOriginal('/p10.jpg'), 'the most recent are kept');
    assert.equal(store.getOriginal('/p0.jpg'), undefined, 'the oldest went first');
    // A request makes an old image recent again.
    await countRequest(store, '/p8.jpg', 5000);
    for (let i = 12; i < 16; i += 1) {
      const bytes = Buffer.concat([photo, Buffer.from(String(i))]);
      await store.putOriginal(originalRecord(`/p${i}.jpg`, bytes), bytes);
      await countRequest(store, `/p${i}.jpg`, 6000 + i);
    }
    assert.ok(store.getOriginal('/p8.jpg'), 'recently requested, kept');
    assert.equal(store.getOriginal('/p9.jpg'), undefined);
    await store.close();
  });

  it('a flood of one-off originals evicts only itself: what was requested twice stays (segmented eviction)', async () => {
    const store = new ImageStore(freshPath(), 10 * photo.length + 1000);
    const entry = (name: string) => {
      const bytes = Buffer.concat([photo, Buffer.from(name)]);
      return { record: originalRecord(name, bytes), bytes };
    };
    let clock = 1000;
    for (let i = 0; i < 5; i += 1) {
      const { record, bytes } = entry(`/real${i}.jpg`);
      await store.putOriginal(record, bytes);
      await countRequest(store, record.url, (clock += 1));
      await countRequest(store, record.url, (clock += 1));
    }
    for (let i = 0; i < 100; i += 1) {
      const { record, bytes } = entry(`/junk.jpg?n=${i}`);
      await store.putOriginal(record, bytes);
      await countRequest(store, record.url, (clock += 1));
      assert.ok(store.size <= store.maxBytes, `after junk ${i}: ${store.size}`);
    }
    for (let i = 0; i < 5; i += 1) assert.ok(store.getOriginal(`/real${i}.jpg`), `/real${i}.jpg was evicted by one-off URLs`);
    assert.ok(store.getOriginal('/junk.jpg?n=99'), 'a new original still gets in (and may earn its place)');
    // A new image requested again leaves probation and stays when the next flood comes.
    await countRequest(store, '/junk.jpg?n=99', (clock += 1));
    for (let i = 100; i < 200; i += 1) {
      const { record, bytes } = entry(`/junk.jpg?n=${i}`);
      await store.putOriginal(record, bytes);
      await countRequest(store, record.url, (clock += 1));
    }
    assert.ok(store.getOriginal('/junk.jpg?n=99'), 'requested twice: kept');
    await store.close();
  });

  it('in the main segment, URLs requested just twice go before an image requested all day', async () => {
    const store = new ImageStore(freshPath(), 10 * photo.length + 1000);
    let clock = 1000;
    const put = async (name: string, requests: number) => {
      const bytes = Buffer.concat([photo, Buffer.from(name)]);
      await store.putOriginal(originalRecord(name, bytes), bytes);
      for (let i = 0; i < requests; i += 1) await countRequest(store, name, (clock += 1));
    };
    await put('/popular.jpg', 13);
    // A flood that passes probation: each URL asked for twice.
    for (let i = 0; i < 60; i += 1) await put(`/twice.jpg?n=${i}`, 2);
    assert.ok(store.getOriginal('/popular.jpg'), 'the popular image stayed');
    assert.ok(store.size <= store.maxBytes);
    await store.close();
  });

  // Hostile review of kept answers: experiments ending after their original was evicted left an entry each, forever.
  it("an original's outcome generation: changed by what is written of its outcomes, never kept for one the store no longer has", async () => {
    const store = new ImageStore(freshPath(), 4 * photo.length + 1000);
    const record = originalRecord('/kept.jpg', photo);
    await store.putOriginal(record, photo);
    const progress = { originalDigest: record.digest, settings: 's', done: ['webp'] };
    assert.equal(store.outcomeGeneration('/kept.jpg'), 0);
    await store.putProgress('/kept.jpg', progress);
    const afterProgress = store.outcomeGeneration('/kept.jpg');
    assert.ok(afterProgress > 0);
    await store.updateProgress('/kept.jpg', () => undefined);
    assert.equal(store.outcomeGeneration('/kept.jpg'), afterProgress, 'nothing written, nothing changed');
    const webp = Buffer.from('a smaller variant');
    await store.putVariant('/kept.jpg', 'webp', variantRecord(photo, webp), webp);
    assert.ok(store.outcomeGeneration('/kept.jpg') > afterProgress);
    // Evicted by newer originals, then its experiments end: nothing of it is remembered.
    for (let i = 0; i < 8; i += 1) {
      const bytes = Buffer.concat([photo, Buffer.from(`/new${i}`)]);
      await store.putOriginal(originalRecord(`/new${i}.jpg`, bytes), bytes);
    }
    assert.equal(store.getOriginal('/kept.jpg'), undefined, 'evicted');
    assert.equal(store.outcomeGeneration('/kept.jpg'), 0);
    await store.putProgress('/kept.jpg', progress);
    await store.updateProgress('/kept.jpg', () => progress);
    await store.putVariant('/kept.jpg', 'webp', variantRecord(photo, webp), webp);
    assert.equal(store.outcomeGeneration('/kept.jpg'), 0);
    await store.close();
  });
});
