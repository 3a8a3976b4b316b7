import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { linkValues, markLinkField } from '../../src/rewrite/link-header.js';
import type { MarkingContext } from '../../src/rewrite/index.js';
import { withoutMarks } from '../support/marks.js';

const marking: MarkingContext = { site: new URL('https://shop.example/'), capabilities: { webp: true, avif: true, zorro: false } };
const base = new URL('https://shop.example/products/shoe.html');
const mark = (field: string) => markLinkField(field, base, marking);

describe('Link fields: image preloads get the mark their <link> element would get', () => {
  it('marks the target of rel=preload as=image, relative to the page', () => {
    assert.equal(mark('</img/hero.jpg>; rel=preload; as=image'), '</img/hero.jpg?m=ic,webp,avif>; rel=preload; as=image');
    assert.equal(mark('<hero.jpg?v=3>; rel=preload; as=image'), '<hero.jpg?v=3&m=ic,webp,avif>; rel=preload; as=image');
    assert.equal(mark('<https://shop.example/a.png>;rel="preload";as="image"'), '<https://shop.example/a.png?m=ic,webp,avif>;rel="preload";as="image"');
  });

  it('reads rel and as as browsers do: case-insensitive, rel a list, white space around ; and =', () => {
    assert.equal(mark('</a.jpg> ;  REL = "Preload Prefetch" ; As=IMAGE'), '</a.jpg?m=ic,webp,avif> ;  REL = "Preload Prefetch" ; As=IMAGE');
    assert.equal(mark('< /a.jpg >; rel=preload; as=image'), '< /a.jpg?m=ic,webp,avif >; rel=preload; as=image');
  });

  it('leaves every other link alone', () => {
    for (const field of [
      '</style.css>; rel=preload; as=style',
      '</a.jpg>; rel=prefetch; as=image',
      '</a.jpg>; rel=preload',
      '</a.jpg>; as=image',
      '<https://cdn.other.example/a.jpg>; rel=preload; as=image',
      '</a.jpg?m=ic>; rel=preload; as=image',
      '<#frag>; rel=preload; as=image',
      '<https://fonts.gstatic.com>; rel=preconnect; crossorigin',
      '</a.jpg>; rel="pre\\load"; as=image',
    ]) {
      assert.equal(mark(field), field, field);
    }
  });

  it('marks each of several link-values, with commas inside targets and quoted values', () => {
    const field = '</x.css>; rel=preload; as=style, </a,b.jpg>; rel=preload; as=image; title="one, two", </c.png>; rel=preload; as=image';
    assert.equal(mark(field), '</x.css>; rel=preload; as=style, </a,b.jpg?m=ic,webp,avif>; rel=preload; as=image; title="one, two", </c.png?m=ic,webp,avif>; rel=preload; as=image');
  });

  it('marks the URLs of an imagesrcset parameter, quoted or not', () => {
    assert.equal(
      mark('</a.jpg>; rel=preload; as=image; imagesrcset="/a.jpg 1x, /a@2x.jpg 2x, https://other.example/b.jpg 3x"; imagesizes="50vw"'),
      '</a.jpg?m=ic,webp,avif>; rel=preload; as=image; imagesrcset="/a.jpg?m=ic,webp,avif 1x, /a@2x.jpg?m=ic,webp,avif 2x, https://other.example/b.jpg 3x"; imagesizes="50vw"',
    );
    assert.equal(mark('<a.jpg>; imagesrcset=b.jpg; rel=preload; as=image'), '<a.jpg?m=ic,webp,avif>; imagesrcset=b.jpg?m=ic,webp,avif; rel=preload; as=image');
    // A backslash escape makes the text differ from the value: left as it is.
    assert.equal(mark('</a.jpg>; rel=preload; as=image; imagesrcset="/b\\.jpg 1x"'), '</a.jpg?m=ic,webp,avif>; rel=preload; as=image; imagesrcset="/b\\.jpg 1x"');
  });

  it('skips a malformed link-value up to the next comma and goes on', () => {
    assert.equal(mark('garbage; rel=preload; as=image, </a.jpg>; rel=preload; as=image'), 'garbage; rel=preload; as=image, </a.jpg?m=ic,webp,avif>; rel=preload; as=image');
    assert.equal(mark('</b.jpg> x; rel=preload; as=image, </a.jpg>; rel=preload; as=image'), '</b.jpg> x; rel=preload; as=image, </a.jpg?m=ic,webp,avif>; rel=preload; as=image');
    assert.equal(mark('</b.jpg>; title="unterminated, </a.jpg>; rel=preload; as=image'), '</b.jpg>; title="unterminated, </a.jpg>; rel=preload; as=image');
    assert.equal(mark('</a.jpg'), '</a.jpg');
    assert.equal(mark(''), '');
  });

  it('finds link-values where they stand', () => {
    const field = ' </a>; rel=x ,, </b>;;rel=y ';
    assert.deepEqual(
      linkValues(field).map((link) => [field.slice(link.target.start, link.target.end), link.params.map((p) => p.name)]),
      [
        ['/a', ['rel']],
        ['/b', ['rel']],
      ],
    );
  });

  // The generator knows what each link-value means as it builds it, so the expectation does not come from the
  // code under test: which link-values preload a same-site, unmarked image.
  it('property: marks exactly the same-site image preloads, and nothing else changes', () => {
    const ows = fc.constantFrom('', ' ', '  ', '\t');
    const quoted = (text: string) => fc.constantFrom(text, `"${text}"`);
    const target = fc.record({
      text: fc.constantFrom('/a.jpg', 'b.png', '/c.gif?v=1', 'https://shop.example/d.webp', 'https://cdn.example/e.jpg', '/g,h.jpg', '/ü.jpg', '//cdn.example/i.jpg', '#top'),
      pad: fc.boolean(),
    });
    const onSite = (text: string) => !/cdn\.example|^#/.test(text);
    const relValue = fc.constantFrom('preload', 'Preload', 'PRELOAD', 'prefetch', 'preload prefetch', 'stylesheet', 'preconnect');
    const asValue = fc.constantFrom('image', 'IMAGE', 'Image', 'style', 'script', 'font');
    const linkValue = fc
      .record({ target, rel: fc.option(relValue), as: fc.option(asValue), extra: fc.option(fc.constantFrom('crossorigin', 'title="a, b; c"', 'type=image/webp', 'fetchpriority=high')), order: fc.boolean(), s1: ows, s2: ows })
      .chain((link) =>
        fc.tuple(link.rel === null ? fc.constant(null) : link.rel.includes(' ') ? fc.constant(`"${link.rel}"`) : quoted(link.rel), link.as === null ? fc.constant(null) : quoted(link.as)).map(([rel, as]) => {
          const params = [rel === null ? null : `rel${link.s1}=${link.s2}${rel}`, as === null ? null : `as=${as}`, link.extra].filter((p): p is string => p !== null);
          if (link.order) params.reverse();
          const text = link.target.pad ? ` ${link.target.text} ` : link.target.text;
          const value = `<${text}>${params.map((p) => `${link.s1};${link.s2}${p}`).join('')}`;
          const preload = link.rel !== null && link.rel.toLowerCase().split(' ').includes('preload') && link.as !== null && link.as.toLowerCase() === 'image';
          return { value, marked: preload && onSite(link.target.text) };
        }),
      );
    // Not link-values (no `<` first): browsers read none of them, whatever follows inside.
    const malformed = fc.constantFrom('junk', 'a=b; rel=preload; as=image', '"quoted, with comma"', 'x </m.jpg>; rel=preload; as=image', '"q </n.jpg>; rel=preload; as=image"');
    const item = fc.oneof({ weight: 5, arbitrary: linkValue }, { weight: 1, arbitrary: malformed.map((value) => ({ value, marked: false })) });
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 6 }), fc.array(fc.constantFrom(',', ', ', ' ,  '), { minLength: 6, maxLength: 6 }), (items, commas) => {
        const field = items.map((i, k) => (k === 0 ? '' : commas[k]) + i.value).join('');
        const out = mark(field);
        assert.equal(withoutMarks(out), field, 'only marks added');
        const marks = out.match(/[?&]m=ic,webp,avif/g) ?? [];
        assert.equal(marks.length, items.filter((i) => i.marked).length, `${field}\n→ ${out}`);
      }),
      { numRuns: 3000, seed: 19 },
    );
  });
});
