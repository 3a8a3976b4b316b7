import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HtmlRewriter, htmlRewriteStream } from '../../src/rewrite/index.js';

const ALL = { webp: true, avif: true, zorro: true };
const M = 'm=ic,webp,avif,zorro';

export function rewriteHtml(html: string, chunkSize = Infinity, lazyAttributes = ['data-src', 'data-srcset']): string {
  const rewriter = new HtmlRewriter({
    documentUrl: new URL('http://site.example/dir/page.html'),
    marking: { site: new URL('http://site.example/'), capabilities: ALL },
    lazyAttributes,
  });
  let out = '';
  const step = Math.min(chunkSize, html.length || 1);
  for (let i = 0; i < html.length; i += step) out += rewriter.write(html.slice(i, i + step));
  return out + rewriter.end();
}

/** [what, input, expected output] — every place of SPEC §3 and the edge cases around it. */
const SNIPPETS: [string, string, string][] = [
  ['img src', '<img src="a.png">', `<img src="a.png?${M}">`],
  ['img src, single quotes', "<img src='a.png'>", `<img src='a.png?${M}'>`],
  ['img src, unquoted', '<img src=a.png alt=x>', `<img src=a.png?${M} alt=x>`],
  ['upper-case tag and attribute', '<IMG SRC="A.PNG">', `<IMG SRC="A.PNG?${M}">`],
  ['spaces around =', '<img src = "a.png" >', `<img src = "a.png?${M}" >`],
  ['existing query', '<img src="a.php?id=3">', `<img src="a.php?id=3&${M}">`],
  ['fragment kept last', '<img src="a.svg#icon">', `<img src="a.svg?${M}#icon">`],
  ['entity in the query', '<img src="a.php?x=1&amp;y=2">', `<img src="a.php?x=1&amp;y=2&amp;${M}">`],
  ['bare ampersand in the query', '<img src="a.php?x=1&y=2">', `<img src="a.php?x=1&y=2&${M}">`],
  ['numeric reference in the path', '<img src="caf&#233;.png">', `<img src="caf&#233;.png?${M}">`],
  ['whitespace inside the value', '<img src="  a.png  ">', `<img src="  a.png?${M}  ">`],
  ['absolute path', '<img src="/img/a.png">', `<img src="/img/a.png?${M}">`],
  ['same-site absolute URL', '<img src="http://site.example/a.png">', `<img src="http://site.example/a.png?${M}">`],
  ['same-site protocol-relative URL', '<img src="//site.example/a.png">', `<img src="//site.example/a.png?${M}">`],
  ['another host', '<img src="http://cdn.example/a.png">', '<img src="http://cdn.example/a.png">'],
  ['another port', '<img src="http://site.example:8080/a.png">', '<img src="http://site.example:8080/a.png">'],
  ['data: URL', '<img src="data:image/gif;base64,R0lGOD">', '<img src="data:image/gif;base64,R0lGOD">'],
  ['javascript: URL', '<img src="javascript:void(0)">', '<img src="javascript:void(0)">'],
  ['already marked', '<img src="a.png?m=ic,webp">', '<img src="a.png?m=ic,webp">'],
  ['empty src', '<img src="">', '<img src="">'],
  ['srcset with density descriptors', '<img srcset="a.png 1x, a@2x.png 2x">', `<img srcset="a.png?${M} 1x, a@2x.png?${M} 2x">`],
  ['srcset with width descriptors and sizes', '<img srcset="s.jpg 400w,l.jpg 800w" sizes="50vw">', `<img srcset="s.jpg?${M} 400w,l.jpg?${M} 800w" sizes="50vw">`],
  ['srcset URL with a comma', '<img srcset="a,b.png 1x, c.png 2x">', `<img srcset="a,b.png?${M} 1x, c.png?${M} 2x">`],
  ['srcset: commas without spaces are part of one URL (HTML standard)', '<img srcset="a.png,b.png">', `<img srcset="a.png,b.png?${M}">`],
  ['srcset without descriptors', '<img srcset="a.png, b.png">', `<img srcset="a.png?${M}, b.png?${M}">`],
  ['srcset: trailing commas end a candidate', '<img srcset="a.png,, b.png 2x">', `<img srcset="a.png?${M},, b.png?${M} 2x">`],
  ['srcset over several lines', '<img srcset="\n  a.png 1x,\n  b.png 2x\n">', `<img srcset="\n  a.png?${M} 1x,\n  b.png?${M} 2x\n">`],
  ['srcset mixing hosts', '<img srcset="http://cdn.example/a.png 1x, b.png 2x">', `<img srcset="http://cdn.example/a.png 1x, b.png?${M} 2x">`],
  ['picture sources', '<picture><source srcset="a.webp" type="image/webp"><img src="a.jpg"></picture>', `<picture><source srcset="a.webp?${M}" type="image/webp"><img src="a.jpg?${M}"></picture>`],
  ['source outside picture (video)', '<video><source src="v.mp4" srcset="x.png"></video>', '<video><source src="v.mp4" srcset="x.png"></video>'],
  ['input type=image', '<input type="image" src="go.png">', `<input type="image" src="go.png?${M}">`],
  ['input of another type', '<input type="text" src="go.png">', '<input type="text" src="go.png">'],
  ['video poster', '<video poster="p.jpg"></video>', `<video poster="p.jpg?${M}"></video>`],
  ['body background', '<body background="bg.gif">', `<body background="bg.gif?${M}">`],
  ['table, td and th background', '<table background=t.gif><tr><th background=h.gif><td background=d.gif>', `<table background=t.gif?${M}><tr><th background=h.gif?${M}><td background=d.gif?${M}>`],
  ['background on a div is not an image', '<div background="x.gif">', '<div background="x.gif">'],
  ['style attribute', '<div style="background: url(x.png) no-repeat">', `<div style="background: url(x.png?${M}) no-repeat">`],
  ['style attribute with &quot;', '<p style="background-image:url(&quot;x.png&quot;)">', `<p style="background-image:url(&quot;x.png?${M}&quot;)">`],
  ['style attribute, not an image property', '<p style="behavior: url(x.htc)">', '<p style="behavior: url(x.htc)">'],
  ['style element', '<style>\nbody { background: url("bg.png") }\n@import url(print.css);\n</style>', `<style>\nbody { background: url("bg.png?${M}") }\n@import url(print.css);\n</style>`],
  ['lazy data-src and data-srcset', '<img src="p.gif" data-src="r.jpg" data-srcset="r.jpg 1x">', `<img src="p.gif?${M}" data-src="r.jpg?${M}" data-srcset="r.jpg?${M} 1x">`],
  ['data-src on an iframe is not an image', '<iframe data-src="page.html"></iframe>', '<iframe data-src="page.html"></iframe>'],
  ['base href', '<base href="/other/"><img src="a.png">', `<base href="/other/"><img src="a.png?${M}">`],
  ['base href to another host', '<base href="http://cdn.example/"><img src="a.png">', '<base href="http://cdn.example/"><img src="a.png">'],
  ['opt-out on img, attribute removed', '<img ai-compress="false" src="a.png">', '<img src="a.png">'],
  ['opt-out written last', '<img src="a.png" ai-compress="false">', '<img src="a.png">'],
  ['opt-out attribute in upper case', '<IMG AI-COMPRESS="FALSE" SRC="a.png">', '<IMG SRC="a.png">'],
  ['ai-compress="true" is removed, URL marked', '<img ai-compress="true" src="a.png">', `<img src="a.png?${M}">`],
  ['opt-out on picture', '<picture ai-compress="false"><source srcset="a.webp"><img src="a.jpg"></picture><img src="b.png">', `<picture><source srcset="a.webp"><img src="a.jpg"></picture><img src="b.png?${M}">`],
  ['noscript content', '<noscript><img src="n.png"></noscript>', `<noscript><img src="n.png?${M}"></noscript>`],
  ['script content untouched', '<script>var t = "<img src=a.png>";</script>', '<script>var t = "<img src=a.png>";</script>'],
  ['script with an escaped comment', '<script><!-- document.write("<img src=a.png>") --></script><img src=b.png>', `<script><!-- document.write("<img src=a.png>") --></script><img src=b.png?${M}>`],
  ['textarea and title untouched', '<title><img src=t.png></title><textarea><img src=t.png></textarea>', '<title><img src=t.png></title><textarea><img src=t.png></textarea>'],
  ['xmp, noembed, noframes untouched', '<xmp><img src=a.png></xmp><noembed><img src=a.png></noembed><noframes><img src=a.png></noframes>', '<xmp><img src=a.png></xmp><noembed><img src=a.png></noembed><noframes><img src=a.png></noframes>'],
  ['comment untouched', '<!-- <img src="c.png"> --><img src="d.png">', `<!-- <img src="c.png"> --><img src="d.png?${M}">`],
  ['CDATA in SVG untouched', '<svg><![CDATA[<img src="c.png">]]></svg><img src="d.png">', `<svg><![CDATA[<img src="c.png">]]></svg><img src="d.png?${M}">`],
  ['plaintext swallows the rest', '<plaintext><img src="a.png">', '<plaintext><img src="a.png">'],
  ['doctype and comments kept byte for byte', '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN">\n<!--x--><img src=a.png>', `<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN">\n<!--x--><img src=a.png?${M}>`],
  ['malformed: unclosed attribute quote at the end', '<p>x<img src="a.png', '<p>x<img src="a.png'],
  ['malformed: attribute without value', '<img src alt="x">', '<img src alt="x">'],
  ['duplicate attribute: the first counts', '<img src="a.png" src="b.png">', `<img src="a.png?${M}" src="b.png">`],
  ['CRLF inside a srcset', '<img srcset="a.png 1x,\r\n b.png 2x">', `<img srcset="a.png?${M} 1x,\r\n b.png?${M} 2x">`],
];

describe('HTML rewriting (SPEC §3)', () => {
  it('has the table of snippets the issue asks for', () => assert.ok(SNIPPETS.length >= 40));
  for (const [what, input, expected] of SNIPPETS) {
    it(what, () => {
      assert.equal(rewriteHtml(input), expected);
      assert.equal(rewriteHtml(input, 1), expected, 'the same when fed one character at a time');
      assert.equal(rewriteHtml(input, 7), expected, 'the same in chunks of 7');
    });
  }

  it('takes a configurable list of lazy-loading attributes', () => {
    assert.equal(rewriteHtml('<img data-original="a.png" data-src="b.png">', Infinity, ['data-original']), `<img data-original="a.png?${M}" data-src="b.png">`);
  });

  it('emits output before the input has ended', () => {
    const rewriter = new HtmlRewriter({
      documentUrl: new URL('http://site.example/'),
      marking: { site: new URL('http://site.example/'), capabilities: ALL },
      lazyAttributes: [],
      charset: 'utf-8',
    });
    const first = rewriter.write('<html><body><p>Hello</p><img src="a.png"><p>more');
    assert.ok(first.startsWith(`<html><body><p>Hello</p><img src="a.png?${M}">`), first);
  });

  it('without a charset from the response, waits for the first 1024 bytes (where a <meta> may name one), then streams', () => {
    const rewriter = new HtmlRewriter({
      documentUrl: new URL('http://site.example/'),
      marking: { site: new URL('http://site.example/'), capabilities: ALL },
      lazyAttributes: [],
    });
    assert.equal(rewriter.write('<html><body><p>Hello</p><img src="a.png">'), '');
    const first = rewriter.write(`<p>${'x'.repeat(1024)}</p><p>more`);
    assert.ok(first.startsWith(`<html><body><p>Hello</p><img src="a.png?${M}"><p>`), first);
  });
});

/** What `htmlRewriteStream` gives back for `chunks`, each written on its own, with what came out after each write. */
function throughHtmlStream(chunks: readonly Buffer[], charset?: string): { out: Buffer; after: Buffer[] } {
  const stream = htmlRewriteStream(
    { documentUrl: new URL('http://site.example/'), marking: { site: new URL('http://site.example/'), capabilities: ALL }, lazyAttributes: [], charset },
    10 * 2 ** 20,
  );
  const read = (): Buffer => {
    const pieces: Buffer[] = [];
    for (let piece = stream.read() as Buffer | null; piece !== null; piece = stream.read() as Buffer | null) pieces.push(piece);
    return Buffer.concat(pieces);
  };
  const after = chunks.map((chunk) => {
    stream.write(chunk);
    return read();
  });
  stream.end();
  return { out: Buffer.concat([...after, read()]), after };
}

/** `bytes` as the chunks of `sizes` (the last one takes the rest). */
function split(bytes: Buffer, ...sizes: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return [...chunks, bytes.subarray(at)];
}

const oneByOne = (bytes: Buffer) => [...bytes].map((byte) => Buffer.from([byte]));

describe('a byte-order mark decides how a page is read (HTML standard §13.2.3.2), however its bytes are split', () => {
  for (const [name, mark] of [['UTF-16LE', [0xff, 0xfe]], ['UTF-16BE', [0xfe, 0xff]]] as const) {
    it(`a ${name} page passes byte for byte, when its first chunk is 1 byte long too`, () => {
      // Code units whose bytes read "<img src=/a.png>" one by one (as UTF-16LE: 椼杭猠捲⼽⹡湰>): marked, they would
      // be off by a byte from there on.
      const page = Buffer.concat([Buffer.from(mark), Buffer.from('<img src=/a.png>', 'latin1'), name === 'UTF-16LE' ? Buffer.from('<p>text</p>', 'utf16le') : Buffer.from('<p>text</p>', 'utf16le').swap16()]);
      for (const [how, chunks] of [['whole', [page]], ['byte 0 alone', split(page, 1)], ['1 byte at a time', oneByOne(page)]] as const) {
        assert.deepEqual(throughHtmlStream(chunks).out, page, how);
        assert.deepEqual(throughHtmlStream(chunks, 'utf-8').out, page, `${how}, with charset=utf-8 in the Content-Type`);
      }
    });
  }

  it('a UTF-8 byte-order mark wins over the Content-Type charset (Shift_JIS would pair 82 5C and end the CSS string early)', () => {
    // あ is E3 81 82 in UTF-8; read as Shift_JIS, 82 5C is one character and the \" no escape.
    const page = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<style>p:before{content:"'), Buffer.from([0xe3, 0x81, 0x82]), Buffer.from('\\"; background:url(/a.png)"}</style><p>x<img src="/b.png">')]);
    const expected = Buffer.concat([page.subarray(0, -2), Buffer.from(`?${M}">`)]);
    for (const [how, chunks] of [['whole', [page]], ['the mark split', split(page, 1, 1)], ['1 byte at a time', oneByOne(page)]] as const) {
      assert.deepEqual(throughHtmlStream(chunks, 'shift_jis').out, expected, how);
    }
  });

  it('holds back no more than the first 3 bytes until they tell, and gives a shorter page back at its end', () => {
    const page = Buffer.from(`\xEF\xBB\xBF<p>Hello</p><img src="a.png"><p>more`, 'latin1');
    const { out, after } = throughHtmlStream(split(page, 1, 1, 1), 'utf-8');
    assert.deepEqual(after.slice(0, 2), [Buffer.alloc(0), Buffer.alloc(0)], 'EF, then EF BB: not yet known');
    assert.deepEqual(after[2], Buffer.from('\xEF\xBB\xBF', 'latin1'), 'EF BB BF: a mark, out as it came');
    assert.ok(after[3]!.toString('latin1').startsWith(`<p>Hello</p><img src="a.png?${M}">`), 'the page after it streams');
    assert.deepEqual(out, Buffer.from(`\xEF\xBB\xBF<p>Hello</p><img src="a.png?${M}"><p>more`, 'latin1'));
    assert.ok(throughHtmlStream([Buffer.from('<p>Hello</p><img src="a.png">')], 'utf-8').after[0]!.length > 0, 'no mark: nothing waits for a third byte');
    for (const short of ['', '\xEF', '\xEF\xBB', '\xFE', '\xFF', '<']) {
      assert.deepEqual(throughHtmlStream(oneByOne(Buffer.from(short, 'latin1')), 'utf-8').out, Buffer.from(short, 'latin1'), JSON.stringify(short));
    }
  });
});
