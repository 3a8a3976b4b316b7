import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ImageSignatureError, readImageOptions } from '../../src/http/image-options.js';
import { type ImageSigning, pageUrlParts, SIGNATURE_PARAMETER, signImageUrl, verifyImageSignature } from '../../src/http/image-signature.js';

const SIGNING: ImageSigning = { key: '943b421c9eb07c83', salt: '520f986b998545b4' };
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The signature a signed URL carries (the last query part, where signImageUrl puts it). */
const signatureOf = (url: string) => url.slice(url.lastIndexOf(`${SIGNATURE_PARAMETER}=`) + SIGNATURE_PARAMETER.length + 1);

const hex = fc.uint8Array({ minLength: 1, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('hex'));
const signing = fc.record({ key: hex, salt: hex });
/** Characters a browser sends in a path or query unescaped, and escapes. */
const urlText = (forbidden: string) =>
  fc.array(fc.oneof(fc.constantFrom(...'abcXYZ019-._~!$\'()*+,;=:@/%?'.split('').filter((c) => !forbidden.includes(c))), fc.constantFrom('%20', '%E9', '%26')), { maxLength: 12 }).map((parts) => parts.join(''));
const parameter = fc.oneof(fc.tuple(urlText('&#=?'), urlText('&#')).map(([name, value]) => `${name}=${value}`), urlText('&#'), fc.constantFrom('size=200', 'fm=webp', 'q=50', 'crop=10,10', 'm=ic,webp', ''));
/** A request target: a path and maybe a query of any parts, empty ones and look-alikes of ours included. */
const requestTarget = fc
  .tuple(urlText('#?'), fc.option(fc.array(parameter, { maxLength: 6 }), { nil: undefined }))
  .map(([path, query]) => `/${path}${query === undefined ? '' : `?${query.join('&')}`}`);
/** The same as a page links it by path: `//…` would name another host (protocol-relative). */
const target = requestTarget.filter((url) => !url.startsWith('//'));

describe('image-option URL signatures (imgproxy’s scheme)', () => {
  it('is HMAC-SHA256 of salt and URL, base64url unpadded: the value openssl and the README’s Python snippet give', () => {
    // (printf '\x52\x0f\x98\x6b\x99\x85\x45\xb4'; printf '%s' '/photo.jpg?size=200&fm=webp') |
    //   openssl dgst -sha256 -mac HMAC -macopt hexkey:943b421c9eb07c83 -binary | base64 | tr '+/' '-_' | tr -d '='
    assert.equal(signImageUrl('/photo.jpg?size=200&fm=webp', SIGNING), '/photo.jpg?size=200&fm=webp&slimproxy_sig=Jwx4rcvVdl0l5BzYZENkwpFLvRdQhK3fs6CMBUKBlwo');
    assert.equal(signImageUrl('/photo.jpg?', SIGNING), '/photo.jpg?&slimproxy_sig=sblR4aocIQB9oGoLCGFvQsTJ270aiDecOPLE1-3hrz0', 'an empty query stays part of what is signed');
  });

  it('signs an absolute URL by the request target the browser sends, and gives it back absolute; fragments are not signed', () => {
    const signed = signImageUrl('https://www.example.org/photo.jpg?size=200&fm=webp#top', SIGNING);
    assert.equal(signed, 'https://www.example.org/photo.jpg?size=200&fm=webp&slimproxy_sig=Jwx4rcvVdl0l5BzYZENkwpFLvRdQhK3fs6CMBUKBlwo#top');
    const bare = signImageUrl('http://example.org?size=20', SIGNING);
    assert.ok(bare.startsWith('http://example.org/?size=20&slimproxy_sig='), `the same URL, its path written out: ${bare}`);
    assert.deepEqual(verifyImageSignature(pageUrlParts(bare).target, SIGNING), { ok: true }, 'the browser asks for /?size=20…');
    const protocolRelative = signImageUrl('//cdn.example.org/a.jpg?q=5', SIGNING);
    assert.ok(protocolRelative.startsWith('//cdn.example.org/a.jpg?q=5&slimproxy_sig='));
    assert.deepEqual(verifyImageSignature(pageUrlParts(protocolRelative).target, SIGNING), { ok: true });
  });

  it('verification accepts exactly what signImageUrl produces, for any URL and any key and salt', () => {
    fc.assert(
      fc.property(target, signing, (url, keys) => {
        const signed = signImageUrl(url, keys);
        assert.deepEqual(verifyImageSignature(signed, keys), { ok: true }, signed);
        assert.equal(signImageUrl(signed, keys), signed, 'signing again replaces the signature with the same one');
      }),
      { numRuns: 500 },
    );
    // Absolute: any request target, `//…` paths included, signed as the browser will ask for it.
    fc.assert(
      fc.property(requestTarget, signing, fc.constantFrom('https://example.org', 'http://[::1]:8080', '//cdn.example.org'), (url, keys, origin) => {
        const signed = signImageUrl(`${origin}${url}#fragment`, keys);
        const parts = pageUrlParts(signed);
        assert.deepEqual([parts.prefix, parts.fragment], [origin, '#fragment']);
        assert.deepEqual(verifyImageSignature(parts.target, keys), { ok: true }, signed);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects any single-character change of the signature, the two bits base64url leaves unused included', () => {
    fc.assert(
      fc.property(target, fc.nat(), fc.constantFrom(...BASE64URL.split('')), (url, at, replacement) => {
        const signed = signImageUrl(url, SIGNING);
        const signature = signatureOf(signed);
        const i = at % signature.length;
        fc.pre(signature[i] !== replacement);
        const changed = signed.slice(0, signed.length - signature.length) + signature.slice(0, i) + replacement + signature.slice(i + 1);
        assert.deepEqual(verifyImageSignature(changed, SIGNING), { ok: false, reason: 'slimproxy_sig does not match' }, changed);
      }),
      { numRuns: 500 },
    );
    // Every position and every other character, for one URL.
    const signed = signImageUrl('/photo.jpg?size=200', SIGNING);
    const signature = signatureOf(signed);
    assert.equal(signature.length, 43);
    for (let i = 0; i < signature.length; i += 1) {
      for (const replacement of BASE64URL) {
        if (replacement === signature[i]) continue;
        const changed: string = signed.slice(0, signed.length - signature.length) + signature.slice(0, i) + replacement + signature.slice(i + 1);
        assert.equal(verifyImageSignature(changed, SIGNING).ok, false, changed);
      }
    }
    // Added or removed characters, and padding.
    for (const changed of [`${signed}=`, `${signed}A`, signed.slice(0, -1), signed.replace(signature, `${signature.slice(0, 42)}%41`)]) {
      assert.equal(verifyImageSignature(changed, SIGNING).ok, false, changed);
    }
  });

  it('rejects the signature of another URL, under another salt or key, a URL changed after signing, and two signatures', () => {
    const url = '/photo.jpg?size=200&fm=webp';
    const other = signatureOf(signImageUrl('/photo.jpg?size=201&fm=webp', SIGNING));
    const otherSalt = signatureOf(signImageUrl(url, { ...SIGNING, salt: '520f986b998545b5' }));
    const otherKey = signatureOf(signImageUrl(url, { ...SIGNING, key: '943b421c9eb07c84' }));
    for (const signature of [other, otherSalt, otherKey]) {
      assert.deepEqual(verifyImageSignature(`${url}&${SIGNATURE_PARAMETER}=${signature}`, SIGNING), { ok: false, reason: 'slimproxy_sig does not match' });
    }
    const signed = signImageUrl(url, SIGNING);
    assert.equal(verifyImageSignature(signed.replace('size=200', 'size=2000'), SIGNING).ok, false);
    assert.equal(verifyImageSignature(signed.replace('size=200&fm=webp', 'fm=webp&size=200'), SIGNING).ok, false, 'the order is signed');
    assert.equal(verifyImageSignature(signed.replace('/photo.jpg', '/other.jpg'), SIGNING).ok, false, 'the path is signed');
    assert.equal(verifyImageSignature(`${signed}&q=10`, SIGNING).ok, false, 'nothing may be added');
    assert.deepEqual(verifyImageSignature(`${signed}&${signed.slice(signed.lastIndexOf(SIGNATURE_PARAMETER))}`, SIGNING), { ok: false, reason: 'slimproxy_sig given more than once' });
    assert.deepEqual(verifyImageSignature(url, SIGNING), { ok: false, reason: 'slimproxy_sig missing' });
    assert.deepEqual(verifyImageSignature(`${url}&${SIGNATURE_PARAMETER}`, SIGNING), { ok: false, reason: 'slimproxy_sig does not match' });
  });

  it('the signature may stand anywhere in the query: the other parts are signed in their order', () => {
    fc.assert(
      fc.property(fc.array(parameter, { minLength: 1, maxLength: 6 }), fc.nat(), (parts, at) => {
        fc.pre(!parts.some((part) => part.split('=')[0] === SIGNATURE_PARAMETER));
        const url = `/a.jpg?${parts.join('&')}`;
        const sig = `${SIGNATURE_PARAMETER}=${signatureOf(signImageUrl(url, SIGNING))}`;
        const moved = [...parts];
        moved.splice(at % (parts.length + 1), 0, sig);
        assert.deepEqual(verifyImageSignature(`/a.jpg?${moved.join('&')}`, SIGNING), { ok: true });
      }),
    );
  });

  it('reading options: without a valid signature nothing is read (403); a signed URL’s signature never reaches the origin', () => {
    assert.throws(
      () => readImageOptions('/photo.jpg?size=200', {}, undefined, SIGNING),
      (err: unknown) => err instanceof ImageSignatureError && err.status === 403 && err.refusal === 'image signature' && /image options need a valid signature: slimproxy_sig missing/.test(err.message),
    );
    // Checked before the values: a URL no page signed learns nothing about the options it tried.
    assert.throws(() => readImageOptions('/photo.jpg?q=101', {}, undefined, SIGNING), ImageSignatureError);
    const options = readImageOptions(signImageUrl('/photo.jpg?v=2&size=200', SIGNING), {}, undefined, SIGNING);
    assert.equal(options?.originUrl, '/photo.jpg?v=2');
    assert.deepEqual(options?.transform.size, { width: 200 });
    // Not an option URL: nothing to sign, nothing refused; the parameter is then the origin's.
    assert.equal(readImageOptions('/photo.jpg', {}, undefined, SIGNING), undefined);
    assert.equal(readImageOptions(`/photo.jpg?v=1&${SIGNATURE_PARAMETER}=x`, {}, undefined, SIGNING), undefined);
    // Without a key a signature is not needed, and still not the origin's.
    assert.equal(readImageOptions(`/photo.jpg?size=10&${SIGNATURE_PARAMETER}=anything`, {})?.originUrl, '/photo.jpg');
  });
});
