import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HtmlRewriter, rewriteStylesheet } from '../../src/rewrite/index.js';

const ALL = { webp: true, avif: true, zorro: true };
const M = 'm=ic,webp,avif,zorro';
const site = new URL('http://site.example/');

/** The rewriter over a binary string (one char per byte), fed whole, byte by byte and in chunks of 5. */
function rewrite(input: string, chunk = Infinity, charset?: string): string {
  const rewriter = new HtmlRewriter({ documentUrl: new URL('http://site.example/dir/page.html'), marking: { site, capabilities: ALL }, lazyAttributes: ['data-src', 'data-srcset'], charset });
  let out = '';
  const step = Math.min(chunk, input.length || 1);
  for (let i = 0; i < input.length; i += step) out += rewriter.write(input.slice(i, i + step));
  return out + rewriter.end();
}

/** Bytes written as a binary string: `b('张')` is the UTF-8 bytes of 张, one char each. */
const b = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

/** [what, input, expected output, charset?]: the cases of issue 14's "Why", each with its exact output bytes. */
const CASES: [string, string, string, string?][] = [
  // 1. Bytes it must not touch: no byte above 0x7F is white space.
  ['UTF-8 character ending in A0 at the end of a URL', `<img src="/avatar.php?name=${b('张')}">`, `<img src="/avatar.php?name=${b('张')}&${M}">`],
  ['UTF-8 à (C3 A0) at the end of a path', `<img src="/img/voil${b('à')}">`, `<img src="/img/voil${b('à')}?${M}">`],
  ['srcset candidate ending in A0', `<img srcset="/img/l${b('à')} 1x, /b.png 2x">`, `<img srcset="/img/l${b('à')}?${M} 1x, /b.png?${M} 2x">`],
  ['style attribute URL ending in A0', `<div style="background:url(/img/voil${b('à')})">`, `<div style="background:url(/img/voil${b('à')}?${M})">`],
  ['style element URL ending in A0', `<style>p{background:url(/img/voil${b('à')})}</style>`, `<style>p{background:url(/img/voil${b('à')}?${M})}</style>`],
  ['Shift_JIS 唖 (88 A0) at the end', '<img src="/img/\x88\xA0">', `<img src="/img/\x88\xA0?${M}">`],
  ['windows-1252 trailing NBSP', '<img src="/img/a.png\xA0">', `<img src="/img/a.png\xA0?${M}">`],
  ['IE hack *background in <style>', '<style>p{*background:url(star.png)}</style>', `<style>p{*background:url(star.png?${M})}</style>`],
  ['IE hack _background-image in <style>', '<style>p{ _background-image : url(us.png) }</style>', `<style>p{ _background-image : url(us.png?${M}) }</style>`],
  ['IE hacks in a style attribute', '<p style="*background:url(star.png);_background-image:url(us.png)">', `<p style="*background:url(star.png?${M});_background-image:url(us.png?${M})">`],
  ['opt-out attribute directly before the next one', '<img ai-compress="false"src="a.png">', '<img src="a.png">'],
  ['opt-out attribute directly after a quoted value', '<img src="a.png"ai-compress="false"alt="x">', '<img src="a.png"alt="x">'],
  ['opt-out attribute before a slash keeps the slash apart from an unquoted value', '<img src=a.png ai-compress="false"/>', '<img src=a.png />'],
  // 2. Images a browser loads.
  ['<img> breaks out of SVG', '<svg><img src="a.png"></svg>', `<svg><img src="a.png?${M}"></svg>`],
  ['a breakout tag ends SVG for what follows', '<svg><rect/><b>x</b><video poster="p.jpg"></video>', `<svg><rect/><b>x</b><video poster="p.jpg?${M}"></video>`],
  ['<font> without attributes stays in SVG', '<svg><font><video poster="p.jpg"></video></font></svg>', '<svg><font><video poster="p.jpg"></video></font></svg>'],
  ['<font size> breaks out of SVG', '<svg><font size="3"><video poster="p.jpg"></video>', `<svg><font size="3"><video poster="p.jpg?${M}"></video>`],
  ['<font color> and <font face> break out of MathML', '<math><font color="red"><video poster="p.jpg"></video></font></math><math><font face="x"><input type="IMAGE" src="i.png">', `<math><font color="red"><video poster="p.jpg?${M}"></video></font></math><math><font face="x"><input type="IMAGE" src="i.png?${M}">`],
  ['MathML mo, mn, ms, mtext hold HTML', '<math><mo><video poster="o.jpg"></video></mo><mn><video poster="n.jpg"></video></mn><ms><video poster="s.jpg"></video></ms><mtext><video poster="t.jpg"></video></mtext></math>', `<math><mo><video poster="o.jpg?${M}"></video></mo><mn><video poster="n.jpg?${M}"></video></mn><ms><video poster="s.jpg?${M}"></video></ms><mtext><video poster="t.jpg?${M}"></video></mtext></math>`],
  ['a MathML element that is no integration point holds no HTML', '<math><mrow><video poster="p.jpg"></video></mrow></math>', '<math><mrow><video poster="p.jpg"></video></mrow></math>'],
  ['an opt-out attribute followed by = keeps the attribute before it without a value', '<img alt ai-compress="true" =x src="a.png">', `<img alt / =x src="a.png?${M}">`],
  ['ai-compress leaves every start tag, an SVG one and an ignored one included', '<svg ai-compress="false"><image ai-compress=false href="a.png"/></svg><select><img ai-compress="false" src="s.png"></select><head ai-compress="false">', '<svg><image href="a.png"/></svg><select><img src="s.png"></select><head>'],
  ['ai-compress between a / and > leaves them apart (a self-closing SVG is another tree)', '<svg/ai-compress="false"></svg><svg / ai-compress="false"></svg><svg/ai-compress="false" ai-compress="false"></svg>', '<svg/ ></svg><svg / ></svg><svg/ ></svg>'],
  // Found by the second review.
  ['ai-compress leaves a <style> or <noscript> the page ends in; their content is read to the end', '<noscript><img ai-compress=false src=n.png><img src=m.png><style ai-compress="false">p{background:url(a.png)}', `<noscript><img src=n.png><img src=m.png?${M}><style>p{background:url(a.png)}`],
  ['an unclosed <style> at the end is read to the end', '<style>p{background:url(a.png)}', `<style>p{background:url(a.png?${M})}`],
  ['ai-compress with = and no value', '<p ai-compress=><img src=a.png ai-compress= >', `<p><img src=a.png?${M}>`],
  ['a url( the sheet ends in runs to the end: left alone', '<style>a{background:url(a.png}</style><style>a{background:url(a.png;color:red}</style>', '<style>a{background:url(a.png}</style><style>a{background:url(a.png;color:red}</style>'],
  ['a string the sheet ends in is text to the end: no mark inside', `<style>a::before{content:'x;background:url(a.png)</style><p style="content:'x;background:url(b.png)">`, `<style>a::before{content:'x;background:url(a.png)</style><p style="content:'x;background:url(b.png)">`],
  // Found by the differential test (test/rewrite/differential.test.ts), kept as examples.
  ['quirks mode: a <table> stays inside an opted-out <picture> in a <p>', '<p><picture ai-compress="false"><table><img style="background:url(c.png)"></table>', '<p><picture><table><img style="background:url(c.png)"></table>'],
  ['a NUL in a url() is U+FFFD to CSS, not a bad URL', '<style>.a{background:#fff url(a\0.png)}</style>', `<style>.a{background:#fff url(a\0.png?${M})}</style>`],
  ['url() holding more than one string loads nothing', '<style>.a{background:url("a.png);font-family:"x";}</style>', '<style>.a{background:url("a.png);font-family:"x";}</style>'],
  ['a reconstructed formatting element copies its tag: rewritten once, as where it was made', '<div><picture ai-compress="false"><b style="background:url(b.png)"></div><p>x', '<div><picture><b style="background:url(b.png)"></div><p>x'],
  ['a CR ends a CSS string as a LF does (CSS Syntax §3.3)', "<style>a{content:'x\r}b{background:url(a.png)}</style><p style=\"content:'x\fy;background:url(b.png)\">", `<style>a{content:'x\r}b{background:url(a.png?${M})}</style><p style="content:'x\fy;background:url(b.png?${M})">`],
  ['two opt-outs after a / keep it apart from the >', '<svg/ai-compress="true"ai-compress="false"><clipPath></clipPath></svg>', '<svg/ ><clipPath></clipPath></svg>'],
  [
    'a <base> foster-parented ahead of the chosen one counts from where it is read on, not before',
    '<table><tr><td><base href="http://cdn.example/"><img src="a.png"></td><i><base href="/x/"></i><img src="b.png"></table><img src="c.png">',
    `<table><tr><td><base href="http://cdn.example/"><img src="a.png"></td><i><base href="/x/"></i><img src="b.png?${M}"></table><img src="c.png?${M}">`,
  ],
  [
    'a <base> appended after the chosen one does not count',
    '<table><tr><td><base href="http://cdn.example/"></td></tr></table><base href="/x/"><img src="a.png">',
    '<table><tr><td><base href="http://cdn.example/"></td></tr></table><base href="/x/"><img src="a.png">',
  ],
  ['SVG foreignObject holds HTML', '<svg><foreignObject><video poster="p.jpg"></video></foreignObject></svg>', `<svg><foreignObject><video poster="p.jpg?${M}"></video></foreignObject></svg>`],
  ['SVG desc and title hold HTML', '<svg><desc><input type=image src=d.png></desc><title><input type=image src=t.png></title></svg>', `<svg><desc><input type=image src=d.png?${M}></desc><title><input type=image src=t.png?${M}></title></svg>`],
  ['MathML text integration point', '<math><mi><video poster="p.jpg"></video></mi></math>', `<math><mi><video poster="p.jpg?${M}"></video></mi></math>`],
  ['annotation-xml with an HTML encoding', '<math><annotation-xml encoding="text/html"><video poster="p.jpg"></video></annotation-xml></math>', `<math><annotation-xml encoding="text/html"><video poster="p.jpg?${M}"></video></annotation-xml></math>`],
  ['annotation-xml with application/xhtml+xml', '<math><annotation-xml encoding="Application/XHTML+XML"><video poster="p.jpg">', `<math><annotation-xml encoding="Application/XHTML+XML"><video poster="p.jpg?${M}">`],
  ['annotation-xml with an SVG encoding is not HTML', '<math><annotation-xml encoding="image/svg+xml"><video poster="p.jpg"></video></annotation-xml></math>', '<math><annotation-xml encoding="image/svg+xml"><video poster="p.jpg"></video></annotation-xml></math>'],
  ['an unclosed <svg> ends with its parent', '<div><svg><rect></div><video poster="p.jpg"></video>', `<div><svg><rect></div><video poster="p.jpg?${M}"></video>`],
  ['SVG <image> is not HTML', '<svg><image href="a.png" src="a.png"/></svg>', '<svg><image href="a.png" src="a.png"/></svg>'],
  ['<image src> is an <img>', '<image src="a.png">', `<image src="a.png?${M}">`],
  ['an unclosed opted-out <picture> ends with its parent', '<div><picture ai-compress="false"><img src="a.png"></div><img src="b.png">', `<div><picture><img src="a.png"></div><img src="b.png?${M}">`],
  ['an opted-out <picture> covers a <source> inside', '<picture ai-compress="false"><source srcset="a.webp"><img src="a.jpg"></picture>', '<picture><source srcset="a.webp"><img src="a.jpg"></picture>'],
  ['a <source> not in a <picture> is not an image', '<div><source srcset="a.webp"></div>', '<div><source srcset="a.webp"></div>'],
  ['<base> in a template does not apply to the page', '<template><base href="http://cdn.example/"><img src="t.png"></template><img src="a.png">', `<template><base href="http://cdn.example/"><img src="t.png?${M}"></template><img src="a.png?${M}">`],
  ['a data: base is refused', '<base href="data:text/html,x"><img src="a.png">', `<base href="data:text/html,x"><img src="a.png?${M}">`],
  ['a second <base> does not count', '<base href="/x/"><base href="http://cdn.example/"><img src="a.png">', `<base href="/x/"><base href="http://cdn.example/"><img src="a.png?${M}">`],
  ['<base> in SVG is not HTML', '<svg><base href="http://cdn.example/"></svg><img src="a.png">', `<svg><base href="http://cdn.example/"></svg><img src="a.png?${M}">`],
  ['<style> wrapped in a comment', '<style><!--\np{background:url(a.png)}\n--></style>', `<style><!--\np{background:url(a.png?${M})}\n--></style>`],
  ['CSS escape of ? in url()', '<style>p{background:url(a\\3f b.png)}</style>', `<style>p{background:url(a\\3f b.png&${M})}</style>`],
  ['Shift_JIS trail byte 5C before ) in CSS', '<style>p{background:url(/img/\x95\x5C) no-repeat}</style>', `<style>p{background:url(/img/\x95\x5C?${M}) no-repeat}</style>`, 'Shift_JIS'],
  ['Shift_JIS trail byte 5C before hex digits in CSS', '<style>p{background:url(/img/\x95\x5C3f.png)}</style>', `<style>p{background:url(/img/\x95\x5C3f.png?${M})}</style>`, 'shift_jis'],
  ['the charset from <meta charset>', '<meta charset="shift_jis"><style>p{background:url(/img/\x95\x5C) no-repeat}</style>', `<meta charset="shift_jis"><style>p{background:url(/img/\x95\x5C?${M}) no-repeat}</style>`],
  ['legacy reference without ; at the end of a value', '<img src="/i.php?a=1&copy">', `<img src="/i.php?a=1&copy&${M}">`],
  ['legacy reference without ; before =', '<img src="/i.php?a=1&copy=2">', `<img src="/i.php?a=1&copy=2&${M}">`],
  ['a reference that only starts with a legacy name', '<img src="/i.php?x=&notit;">', `<img src="/i.php?x=&notit;&${M}">`],
  ['preload of an image: href and imagesrcset', '<link rel="preload" as="image" href="hero.jpg" imagesrcset="hero.jpg 1x, hero2.jpg 2x">', `<link rel="preload" as="image" href="hero.jpg?${M}" imagesrcset="hero.jpg?${M} 1x, hero2.jpg?${M} 2x">`],
  ['preload of a stylesheet is not an image', '<link rel="preload" as="style" href="a.css">', '<link rel="preload" as="style" href="a.css">'],
  ['background on tr, thead, tbody, tfoot', '<table><thead background=h.gif><tr background=r.gif></thead><tbody background=b.gif></tbody><tfoot background=f.gif></tfoot></table>', `<table><thead background=h.gif?${M}><tr background=r.gif?${M}></thead><tbody background=b.gif?${M}></tbody><tfoot background=f.gif?${M}></tfoot></table>`],
  ['a CSS custom property holding url()', '<style>:root{--bg: url(a.png)}</style><p style="--icon:url(i.png)">', `<style>:root{--bg: url(a.png?${M})}</style><p style="--icon:url(i.png?${M})">`],
  ['a repeated <body> tag merges its background', '<body><p>x<body background="bg.gif">', `<body><p>x<body background="bg.gif?${M}">`],
  ['noscript: a </noscript> in its script ends it, as in a browser that runs scripts', '<noscript><script>"</noscript>"<img src="a.png"></script>', `<noscript><script>"</noscript>"<img src="a.png?${M}"></script>`],
  ['<img> in a select is dropped by the tree builder', '<select><img src="a.png"></select><img src="b.png">', `<select><img src="a.png"></select><img src="b.png?${M}">`],
];

describe('rewriting as a browser parses (issue 14)', () => {
  for (const [what, input, expected, charset] of CASES) {
    it(what, () => {
      assert.equal(rewrite(input, Infinity, charset), expected);
      assert.equal(rewrite(input, 1, charset), expected, 'the same when fed one byte at a time');
      assert.equal(rewrite(input, 5, charset), expected, 'the same in chunks of 5');
    });
  }

  const css = (text: string, charset?: string) => rewriteStylesheet(text, new URL('http://site.example/css/a.css'), { site, capabilities: ALL }, charset);
  it('IE hacks in a .css file', () => {
    assert.equal(css('p{*background:url(star.png)}\nq{_background-image:url(us.png)}'), `p{*background:url(star.png?${M})}\nq{_background-image:url(us.png?${M})}`);
  });
  it('a stylesheet wrapped in <!-- --> keeps its marks', () => {
    assert.equal(css('<!--\np{background:url(a.png)}\n-->\n'), `<!--\np{background:url(a.png?${M})}\n-->\n`);
  });
  it('a stylesheet with a UTF-8 byte-order mark and @charset keeps its marks', () => {
    assert.equal(css('\xEF\xBB\xBF@charset "utf-8";\np{background:url(a.png)}'), `\xEF\xBB\xBF@charset "utf-8";\np{background:url(a.png?${M})}`);
  });
  it('a block left open at the end of a stylesheet, as browsers close it', () => {
    assert.equal(css('.a{background:url(a.png)}\n.b{background:url(b.png)'), `.a{background:url(a.png?${M})}\n.b{background:url(b.png?${M})`);
  });
  it('-webkit-mask-box-image, mask-border and shape-outside load images too', () => {
    assert.equal(css('p{-webkit-mask-box-image:url(m.png) 10;mask-border:url(b.png);shape-outside:url(s.png)}'), `p{-webkit-mask-box-image:url(m.png?${M}) 10;mask-border:url(b.png?${M});shape-outside:url(s.png?${M})}`);
  });
  it('a bad url() drops its whole declaration, as in browsers', () => {
    assert.equal(css('p{background:url(a b.png), url(c.png)}q{background:url(d.png)}'), `p{background:url(a b.png), url(c.png)}q{background:url(d.png?${M})}`);
  });
  it('a stylesheet reads its own @charset', () => {
    assert.equal(css('@charset "Shift_JIS";p{background:url(\x95\x5C) no-repeat}'), `@charset "Shift_JIS";p{background:url(\x95\x5C?${M}) no-repeat}`);
  });
  it('CSS escapes are read as CSS reads them', () => {
    assert.equal(css('p{background:url(a\\).png)}'), `p{background:url(a\\).png?${M})}`);
    assert.equal(css('p{background:url("a\\23 b.png")}'), `p{background:url("a?${M}\\23 b.png")}`);
  });
});
