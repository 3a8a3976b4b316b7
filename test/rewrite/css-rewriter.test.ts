import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { cssRewriteStream, rewriteStylesheet } from '../../src/rewrite/index.js';

const M = 'm=ic,webp';
const marking = { site: new URL('http://site.example/'), capabilities: { webp: true, avif: false, zorro: false } };
const rewrite = (css: string, url = 'http://site.example/css/site.css') => rewriteStylesheet(css, new URL(url), marking);

/** [what, input, expected output] (SPEC §4). */
const SNIPPETS: [string, string, string][] = [
  ['unquoted url()', 'a{background:url(bg.png)}', `a{background:url(bg.png?${M})}`],
  ['double quotes', 'a{background:url("bg.png")}', `a{background:url("bg.png?${M}")}`],
  ['single quotes', "a{background:url('bg.png')}", `a{background:url('bg.png?${M}')}`],
  ['spaces inside the parentheses', 'a{background: url( "bg.png" ) }', `a{background: url( "bg.png?${M}" ) }`],
  ['upper-case URL()', 'a{background:URL(bg.png)}', `a{background:URL(bg.png?${M})}`],
  // Found by the browser tests: the value parser splits a capitalised URL( at its slashes.
  ['upper-case URL() with a path', 'a{BACKGROUND:URL(../img/nasa/x.png) no-repeat}', `a{BACKGROUND:URL(../img/nasa/x.png?${M}) no-repeat}`],
  ['mixed-case Url() with a quoted path', 'a{background:Url( "/img/a b.png" )}', `a{background:Url( "/img/a b.png?${M}" )}`],
  ['background-image', 'a { background-image: url(/img/x.jpg); }', `a { background-image: url(/img/x.jpg?${M}); }`],
  ['several backgrounds in one declaration', 'a{background:url(a.png) top left no-repeat, url(b.png) repeat-x}', `a{background:url(a.png?${M}) top left no-repeat, url(b.png?${M}) repeat-x}`],
  ['border-image and border-image-source', 'a{border-image:url(b.png) 30 round;border-image-source:url(c.png)}', `a{border-image:url(b.png?${M}) 30 round;border-image-source:url(c.png?${M})}`],
  ['list-style and list-style-image', 'ul{list-style:square url(dot.gif);list-style-image:url(d2.gif)}', `ul{list-style:square url(dot.gif?${M});list-style-image:url(d2.gif?${M})}`],
  ['mask and mask-image (prefixed)', 'a{mask:url(m.svg);-webkit-mask-image:url(m.png)}', `a{mask:url(m.svg?${M});-webkit-mask-image:url(m.png?${M})}`],
  ['content', 'a:after{content:url(arrow.gif)}', `a:after{content:url(arrow.gif?${M})}`],
  ['cursor with fallback', 'a{cursor:url(hand.cur), pointer}', `a{cursor:url(hand.cur?${M}), pointer}`],
  ['image-set() with strings', 'a{background-image:image-set("a.png" 1x, "a@2x.png" 2x)}', `a{background-image:image-set("a.png?${M}" 1x, "a@2x.png?${M}" 2x)}`],
  ['-webkit-image-set() with url()', 'a{background-image:-webkit-image-set(url(a.png) 1x, url(b.png) 2x)}', `a{background-image:-webkit-image-set(url(a.png?${M}) 1x, url(b.png?${M}) 2x)}`],
  ['relative to the stylesheet', 'a{background:url(../img/x.png)}', `a{background:url(../img/x.png?${M})}`],
  ['existing query and fragment', 'a{background:url(sprite.svg?v=2#icon)}', `a{background:url(sprite.svg?v=2&${M}#icon)}`],
  ['escaped character in the URL', 'a{background:url(my\\ file.png)}', `a{background:url(my\\ file.png?${M})}`],
  ['!important kept', 'a{background:url(x.png)!important}', `a{background:url(x.png?${M})!important}`],
  ['comments kept, inside and around', '/* url(no.png) */a{/*c*/background:/*v*/url(x.png)}', `/* url(no.png) */a{/*c*/background:/*v*/url(x.png?${M})}`],
  ['@import untouched', '@import url(other.css);\n@import "print.css" print;', '@import url(other.css);\n@import "print.css" print;'],
  ['@font-face src untouched', '@font-face{font-family:x;src:url(x.woff2) format("woff2")}', '@font-face{font-family:x;src:url(x.woff2) format("woff2")}'],
  ['other hosts untouched', 'a{background:url(http://cdn.example/x.png)}', 'a{background:url(http://cdn.example/x.png)}'],
  ['data: URLs untouched', 'a{background:url(data:image/png;base64,iVBOR)}', 'a{background:url(data:image/png;base64,iVBOR)}'],
  ['already marked untouched', 'a{background:url(x.png?m=ic)}', 'a{background:url(x.png?m=ic)}'],
  ['inside @media', '@media print{a{background:url(p.png)}}', `@media print{a{background:url(p.png?${M})}}`],
  ['not an image property', 'a{behavior:url(x.htc);filter:url(#f)}', 'a{behavior:url(x.htc);filter:url(#f)}'],
  ['whitespace and newlines kept', 'a {\n  background :\n    url(x.png)\n    no-repeat ;\n}\n', `a {\n  background :\n    url(x.png?${M})\n    no-repeat ;\n}\n`],
  // Browsers close what the end of the sheet leaves open (CSS Syntax §5.4): the image loads, so it is marked.
  ['a block left open at the end', 'a{background:url(x.png)', `a{background:url(x.png?${M})`],
  ['a comment left open at the end', 'a{background:url(x.png)} /* oops', `a{background:url(x.png?${M})} /* oops`],
  ['empty url() untouched', 'a{background:url()}', 'a{background:url()}'],
];

describe('CSS rewriting (SPEC §4)', () => {
  it('has the table of snippets the issue asks for', () => assert.ok(SNIPPETS.length >= 25));
  for (const [what, input, expected] of SNIPPETS) {
    it(what, () => assert.equal(rewrite(input), expected));
  }
  it('keeps non-ASCII bytes as they are (binary strings in and out)', () => {
    const latin1 = Buffer.from('a{background:url(caf\xe9.png)} /* \xe9t\xe9 */', 'latin1').toString('latin1');
    assert.equal(rewrite(latin1), latin1.replace('.png)', `.png?${M})`));
  });
});

/** What `cssRewriteStream` gives back for `chunks`, each written on its own. */
async function throughCssStream(chunks: readonly Buffer[], charset?: string): Promise<Buffer> {
  const stream = cssRewriteStream(new URL('http://site.example/css/site.css'), marking, 2 ** 20, charset);
  const out: Buffer[] = [];
  stream.on('data', (piece: Buffer) => out.push(piece));
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  await once(stream, 'end');
  return Buffer.concat(out);
}

describe('a byte-order mark decides how a stylesheet is read (CSS Syntax §3.2)', () => {
  for (const [name, mark] of [['UTF-16LE', '\xFF\xFE'], ['UTF-16BE', '\xFE\xFF']] as const) {
    it(`a ${name} stylesheet passes byte for byte, even where its bytes spell url(/x.png) one by one`, async () => {
      const sheet = `${mark}a{background:url(/x.png)}`;
      assert.equal(rewrite(sheet), sheet);
      const bytes = Buffer.from(sheet, 'latin1');
      assert.deepEqual(await throughCssStream([bytes.subarray(0, 1), bytes.subarray(1)]), bytes, 'byte 0 alone, then the rest');
      assert.deepEqual(await throughCssStream([...bytes].map((byte) => Buffer.from([byte])), 'utf-8'), bytes, '1 byte at a time, charset=utf-8 in the Content-Type');
    });
  }
});

describe('a stylesheet with no charset label: only the marks every ASCII-compatible reading agrees on (hostile review)', () => {
  // 表 in Shift_JIS is 95 5C: read byte by byte, 5C is a backslash that escapes the quote after it, and the rest of
  // the line becomes a declaration; a Shift_JIS page's browser reads a string. Binary strings, as the rewriter has.
  const sjis = '.a::before{content:"\x95\x5c"} .b::before{content:"; background:url(/z.png); "}';

  it('leaves a sheet that a Shift_JIS, GBK or Big5 page would read otherwise as it is', () => {
    assert.equal(rewrite(sjis), sjis);
  });

  it('marks it when its label says how to read it', () => {
    assert.equal(rewriteStylesheet(sjis, new URL('http://site.example/a.css'), marking, 'shift_jis'), sjis);
    assert.equal(rewriteStylesheet(sjis, new URL('http://site.example/a.css'), marking, 'utf-8'), sjis.replace('/z.png', `/z.png?${M}`));
  });

  it('still marks a sheet whose other bytes every reading agrees on (UTF-8 text, Latin-1 text)', () => {
    const utf8 = '/* caf\xc3\xa9 */ a{background:url(/bg.png)} b::after{content:"\xc3\xa9{"}';
    assert.equal(rewrite(utf8), utf8.replace('/bg.png', `/bg.png?${M}`));
    const latin1 = 'a{background:url(/bg.png)} b::after{content:"\xe9t\xe9"}';
    assert.equal(rewrite(latin1), latin1.replace('/bg.png', `/bg.png?${M}`));
  });
});
