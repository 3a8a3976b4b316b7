import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeMarkedUrl, isMarked, markUrl, markValue, resolvesToSite } from '../../src/marks/index.js';

const ALL = { webp: true, avif: true, zorro: true };
const NONE = { webp: false, avif: false, zorro: false };

describe('marks (SPEC §2)', () => {
  it('encodes capabilities in a fixed order', () => {
    assert.equal(markValue(ALL), 'ic,webp,avif,zorro');
    assert.equal(markValue(NONE), 'ic');
    assert.equal(markValue({ webp: false, avif: true, zorro: true }), 'ic,avif,zorro');
  });

  it('appends the mark as the last query parameter, before the fragment', () => {
    assert.equal(markUrl('/a/b.jpg', { ...NONE, webp: true }), '/a/b.jpg?m=ic,webp');
    assert.equal(markUrl('/x.php?id=3#top', NONE), '/x.php?id=3&m=ic#top');
    assert.equal(markUrl('img/a.png', NONE), 'img/a.png?m=ic');
    assert.equal(markUrl('//cdn.site/a.png?', NONE), '//cdn.site/a.png?&m=ic');
  });

  it('decodes exactly the last valid mark', () => {
    assert.deepEqual(decodeMarkedUrl('/a/b.jpg?m=ic,webp'), { url: '/a/b.jpg', mark: 'ic,webp', capabilities: { webp: true, avif: false, zorro: false } });
    assert.equal(decodeMarkedUrl('/x.php?id=3&m=ic#top')?.url, '/x.php?id=3#top');
    assert.equal(decodeMarkedUrl('/x?m=foo&m=ic')?.url, '/x?m=foo');
    assert.equal(decodeMarkedUrl('/x?m=ic&v=2')?.url, '/x?v=2', 'a parameter added after the mark stays');
    assert.equal(decodeMarkedUrl('/x?m=ic,avif,webp'), undefined, 'tokens out of order are not a mark');
    assert.equal(decodeMarkedUrl('/x?m=ic,webp,webp'), undefined);
    assert.equal(decodeMarkedUrl('/x?mm=ic'), undefined);
    assert.equal(decodeMarkedUrl('/x#?m=ic'), undefined, 'a fragment is not a query');
    assert.ok(isMarked('/a.png?m=ic'));
  });

  it('decode(encode(u)) = u for any unmarked URL and any capabilities', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~%!$'()*+,;:@-]{0,8}$/);
    const query = fc.array(
      fc.tuple(fc.constantFrom('m', 'id', 'v', 'mm', '', 'M'), fc.stringMatching(/^[A-Za-z0-9%,.=+-]{0,6}$/), fc.boolean()),
      { maxLength: 4 },
    );
    const url = fc
      .record({
        prefix: fc.constantFrom('', '/', 'http://site.example/', '//site.example/', '../', './'),
        path: fc.array(segment, { maxLength: 4 }),
        query: fc.option(query),
        fragment: fc.option(fc.stringMatching(/^[A-Za-z0-9?&=/#-]{0,8}$/)),
      })
      .map(({ prefix, path, query, fragment }) => {
        let u = prefix + path.join('/');
        if (query !== null) u += '?' + query.map(([k, v, eq]) => (eq ? `${k}=${v}` : k)).join('&');
        if (fragment !== null) u += '#' + fragment;
        return u;
      })
      .filter((u) => !isMarked(u));
    const capabilities = fc.record({ webp: fc.boolean(), avif: fc.boolean(), zorro: fc.boolean() });
    fc.assert(
      fc.property(url, capabilities, (u, caps) => {
        const marked = markUrl(u, caps);
        const decoded = decodeMarkedUrl(marked);
        assert.equal(decoded?.url, u);
        assert.deepEqual(decoded.capabilities, { ...caps });
      }),
      { numRuns: 3000 },
    );
  });

  it('only URLs of the site itself are candidates', () => {
    const site = new URL('http://site.example/');
    const page = new URL('http://site.example/dir/page.html');
    const cases: [string, boolean][] = [
      ['a.png', true],
      ['/img/a.png', true],
      ['../x.png', true],
      ['http://site.example/a.png', true],
      ['https://site.example/a.png', true],
      ['//site.example/a.png', true],
      ['http://site.example:8080/a.png', false],
      ['http://other.example/a.png', false],
      ['//cdn.example/a.png', false],
      ['data:image/png;base64,AAAA', false],
      ['blob:http://site.example/1', false],
      ['javascript:void(0)', false],
      [' JavaScript:alert(1)', false],
      ['', false],
    ];
    for (const [url, expected] of cases) assert.equal(resolvesToSite(url, page, site) !== undefined, expected, url);
    fc.assert(
      fc.property(fc.webUrl(), (u) => {
        const resolved = resolvesToSite(u, page, site);
        if (resolved) assert.equal(resolved.hostname, 'site.example');
      }),
      { numRuns: 500 },
    );
  });
});
