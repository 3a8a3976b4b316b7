/**
 * A generator of malformed, real-world-shaped HTML documents for differential tests of the HTML rewriter
 * (SPEC §3, §4) against parse5's tree builder.
 *
 * Documents are *binary strings*: one JS character per byte (every char code is in U+0000–U+00FF), the way the
 * rewriter sees a page in its own charset. Bytes above 0x7F appear in text, attribute values, URLs and CSS
 * (UTF-8, windows-1252 and Shift_JIS sequences, including the trail bytes 0xA0 and 0x5C).
 *
 * The grammar is recursive and indexed by depth: `piece(d)` is one item of flow content (text, a comment, a
 * void element, a raw-text element, or a container whose children are `piece(d - 1)`s), and the foreign-content
 * grammars `svgChild(d)` / `mathChild(d)` recurse into HTML through the integration points. Depth 0 holds only
 * leaves, so every document is finite and small; a rare "long page" branch repeats shallow pieces for size.
 *
 * Nothing here is valid by construction: end tags are dropped, swapped for unrelated ones or given attributes,
 * attributes are quoted every way the tokenizer knows, values carry character references and NUL bytes, and raw
 * text carries markup. The documents never contain the full mark `m=ic,webp,avif,zorro`, which the tests use to
 * find what the rewriter inserted (already-marked URLs with shorter marks do appear).
 */
import fc from 'fast-check';

type Arb = fc.Arbitrary<string>;
/** A literal string or an arbitrary of strings. */
type Part = Arb | string;
interface Weighted {
  readonly weight: number;
  readonly arbitrary: Arb;
}

// ---------------------------------------------------------------------------------------------------------------
// Combinators
// ---------------------------------------------------------------------------------------------------------------

const lift = (p: Part): Arb => (typeof p === 'string' ? fc.constant(p) : p);
/** A weighted alternative for `pick` (fractional weights allowed: fc.oneof wants integers, so they are scaled). */
const w = (weight: number, p: Part): Weighted => ({ weight: Math.max(1, Math.round(weight * 100)), arbitrary: lift(p) });
/** One of the alternatives (weight 1 unless given with `w`). */
function pick(...choices: (Part | Weighted)[]): Arb {
  return fc.oneof(...choices.map((c) => (typeof c === 'string' ? w(1, c) : 'weight' in c ? c : w(1, c))));
}
/** One of the literal strings, uniformly. */
const k = (...xs: string[]): Arb => fc.constantFrom(...xs);
/** The parts concatenated. */
const cat = (...parts: Part[]): Arb => fc.tuple(...parts.map(lift)).map((xs) => xs.join(''));
/** The part with probability `chance`, else the empty string. */
const opt = (p: Part, chance = 0.5): Arb => pick(w(1 - chance, ''), w(chance, p));
/** Zero (or `min`) to `max` repetitions of the part, concatenated. */
const many = (p: Part, max: number, min = 0, sep = ''): Arb =>
  fc.array(lift(p), { minLength: min, maxLength: max }).map((xs) => xs.join(sep));
/** The same sub-grammar for each depth, built once. */
function byDepth(f: (d: number) => Arb): (d: number) => Arb {
  const memo = new Map<number, Arb>();
  return (d) => {
    let arb = memo.get(d);
    if (arb === undefined) {
      arb = f(Math.max(0, d));
      memo.set(d, arb);
    }
    return arb;
  };
}

/** A JS string encoded as UTF-8, as a binary string (one char per byte). */
const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/** The tag name in lower case mostly, else in upper case or capitalised (tag names are case-insensitive). */
const nameCase = (name: string): Arb =>
  pick(w(10, name), name.toUpperCase(), name.charAt(0).toUpperCase() + name.slice(1));

const FULL_MARK = /m=ic,webp,avif,zorro/g;
/** Breaks any accidental full mark so that the tests can find inserted ones (`0` is not in the mark). */
const withoutFullMark = (s: string): string => s.replace(FULL_MARK, 'm=ic,webp,avif,zorr0');

// ---------------------------------------------------------------------------------------------------------------
// Bytes above 0x7F, character references
// ---------------------------------------------------------------------------------------------------------------

/** Shift_JIS characters whose trail byte is 0xA0 (NBSP in windows-1252) or 0x5C (a backslash in ASCII). */
const SJIS_A0 = '\x88\xA0';
const SJIS_5C = '\x95\x5C';

/** Byte sequences above 0x7F: UTF-8, windows-1252/latin-1, Shift_JIS, stray continuation bytes. */
const highBytes = k(
  utf8('张'),
  utf8('voilà'),
  utf8('画像'),
  utf8('\u00a0'),
  '\xA0',
  'caf\xE9',
  SJIS_A0,
  SJIS_5C,
  '\x82\xA0',
  '\x80\x81\xFE\xFF',
  '\xE5\xBC',
  '\x85',
);

/** Character references as written in real pages: complete, legacy without `;`, unknown, out of range, bare `&`. */
const charRef = k(
  '&amp;',
  '&amp',
  '&AMP;',
  '&copy',
  '&copy;',
  '&copy=1',
  '&copyx',
  '&notit;',
  '&notin;',
  '&not',
  '&#38;',
  '&#x26',
  '&#x26;',
  '&#0;',
  '&#xD800;',
  '&#x110000;',
  '&#128;',
  '&#65;',
  '&#X41;',
  '&unknown;',
  '&',
  '& ',
  '&lt',
  '&lt;',
  '&gt',
  '&quot;',
  '&QUOT',
  '&#39;',
  '&#',
  '&#x',
  '&#xZ;',
  '&nbsp',
  '&nbsp;',
  '&aacute',
  '&AElig',
  '&ampx',
  '&amp=x',
);

/** Whitespace of the tokenizer (and `\r\n`), used around URLs and between attributes. */
const space = k(' ', '  ', '\t', '\n', '\f', '\r', '\r\n', ' \t\n\f\r');

// ---------------------------------------------------------------------------------------------------------------
// URLs (SPEC §2: which resolve to the site, which do not, which are already marked)
// ---------------------------------------------------------------------------------------------------------------

/** The URL without query or fragment: relative, absolute-path, same-site, other hosts, special schemes. */
const urlPath = pick(
  w(5, k('a.png', 'b.jpg', 'img/x.gif', '../img/x.jpg', './c.webp', 'img/dir/', 'x', 'a%20b.png', 'photo.JPG', 'icon.svg', 'a.png;v=1', 'page.php', 'a b.png', 'a\\b.png')),
  w(3, k('/a.png', '/img/x.jpg', '/', '/img/dir/', '/x.php', '/%E5%BC%A0.png', '/a/../b.png')),
  w(3, k('http://site.example/x.png', 'https://site.example/x.png', '//site.example/y.gif', 'HTTP://Site.Example/u.png', 'http://site.example:80/p.png', 'https://site.example:443/s.png', 'http://site.example', 'http:x.png', 'http://user@site.example/x.png', '\\\\site.example/b.png')),
  w(2, k('http://cdn.example/z.png', '//cdn.example/z.png', 'http://site.example:8080/x.png', 'https://other.example/a.png', 'http://site.example.evil/x.png', 'ftp://site.example/x.png')),
  w(2, k('data:image/png;base64,AAAA', 'data:image/svg+xml,%3Csvg%3E', 'blob:x', 'blob:http://site.example/0-1', 'javascript:x', 'JavaScript:void(0)', '#frag', '', 'about:blank', 'mailto:a@b', '?q=1', 'vbscript:x')),
  w(2, k(`img/${utf8('张')}.png`, `voil${utf8('à')}.jpg`, 'a\xA0', `sj/${SJIS_A0}.png`, `sj/${SJIS_5C}.png`, 'caf\xE9.png', `/${utf8('画像')}/x.png`, 'x\xFF.gif', `http://site.example/${utf8('张')}.png`)),
  w(1, cat(k('a', 'img/b', '/c', 'http://site.example/d'), charRef, k('.png', 'x.jpg', ''))),
  w(0.3, k('a\0.png', '\0')),
);

/** One query parameter: plain, legacy-entity look-alikes (`copy`, `not`, `lt`), existing marks, high bytes. */
const queryParam = k('a=1', 'b=2', 'copy', 'copy=1', 'copyx=2', 'not=3', 'lt', 'id=3', 'm=ic', 'm=ic,webp', 'm=ic,avif,zorro', 'm=ic,webp,avif', 'm=', 'm=ic,bogus', 'M=ic', `q=${utf8('张')}`, 'v=1.2', 'x=%20', 'e=\xE9');
/** The byte(s) between query parameters: `&`, and `&` written as a reference. */
const querySep = pick(w(4, '&'), w(2, '&amp;'), k('&amp', '&#38;', '&#x26', ';'));
const query = pick(
  w(8, fc.array(fc.tuple(querySep, queryParam), { minLength: 1, maxLength: 3 }).map((ps) => '?' + ps.map(([s, p], i) => (i > 0 ? s : '') + p).join(''))),
  k('?', '?&', '??a', '?a=1&copy', '?a=1&amp;b=2'),
);
const fragment = k('#top', '#', '#a?b=1', '#m=ic,webp', `#${utf8('张')}`, '#x y');

/** A URL as written in a `src`-like attribute or `url()`, without padding. */
const bareUrl = pick(w(10, cat(urlPath, opt(query, 0.35), opt(fragment, 0.15))), k('a.png?m=ic,webp', '/b.jpg?id=3&m=ic', 'c.gif?m=ic,avif#x'));
/** A URL as written in an attribute: sometimes padded with HTML whitespace. */
const url = pick(w(6, bareUrl), w(1, cat(space, bareUrl, space)), w(0.5, cat(bareUrl, space)));

/** A `srcset` (or `imagesrcset`) value: candidates with density or width descriptors, odd commas and spaces. */
const srcsetCandidate = cat(
  bareUrl,
  pick(w(3, ''), w(4, k(' 1x', ' 2x', ' 1.5x', ' 400w', ' 800w')), k(' 100h', ' 1x 2x', ' (a, b)', ' 1x (c,d)', '  2x  ', '\t1x', ' 2X')),
);
const srcset = pick(
  w(6, fc.array(fc.tuple(srcsetCandidate, k(', ', ', ', ',', ' , ', ',\n', ',, ', ' ,')), { minLength: 1, maxLength: 3 }).map((cs) => cs.map(([c, s], i) => (i > 0 ? s : '') + c).join(''))),
  w(3, k('a.png 1x, b.png 2x', 'a,b.png 1x', 'a.png,, b.png', 'a.png,b.png', ',a.png', 'a.png 1x,', '  a.png   1x  ,  b.png  2x  ', 'data:image/png;base64,AAAA 1x, b.png 2x', 'a.png 100w, b.png 200w', `${utf8('张')}.png 1x`, 'a.png\t1x,\nb.png\f2x', 'a.png?x=1,2 1x', 'http://cdn.example/a.png 1x, b.png 2x', 'a.png (x, y) 1x, b.png 2x', '')),
  w(1, cat(space, srcsetCandidate, space)),
);
const sizes = k('100vw', '(max-width: 600px) 480px, 800px', '50vw', '');

// ---------------------------------------------------------------------------------------------------------------
// CSS (SPEC §4): in style attributes and <style> elements
// ---------------------------------------------------------------------------------------------------------------

/** `url()` with every quoting and spacing, CSS escapes, Shift_JIS trail 0x5C, unterminated forms (rarely). */
const cssUrl = pick(
  w(12, fc.tuple(bareUrl, k('u', 'dq', 'sq', 'U', 'Usq', 'sp', 'nl', 'Mixed')).map(([u, q]) => {
    switch (q) {
      case 'dq': return `url("${u}")`;
      case 'sq': return `url('${u}')`;
      case 'U': return `URL(${u})`;
      case 'Usq': return `URL('${u}')`;
      case 'sp': return `url( ${u} )`;
      case 'nl': return `url(\n"${u}"\t)`;
      case 'Mixed': return `Url(${u})`;
      default: return `url(${u})`;
    }
  })),
  w(3, k('url(a\\3f b.png)', 'url(a\\).png)', 'url("a\\"b.png")', 'url(a\\ b.png)', 'url(\\61 .png)', `url(sj/${SJIS_5C}.png)`, `url("sj/${SJIS_5C}.png")`, 'url(a.png?x=1&copy=2)', 'url()', 'url("")', 'url(data:image/png;base64,AAAA)', 'url(a b.png)', 'url(/*x*/a.png)', `url(${utf8('张')}.png)`)),
  w(0.3, k('url(', 'url(a.png', 'url("a.png)', "url('a.png")),
);
/** `image-set()` and `-webkit-image-set()` with strings and `url()`s. */
const imageSet = pick(
  w(3, fc.tuple(k('image-set', '-webkit-image-set', 'IMAGE-SET'), bareUrl, cssUrl).map(([f, a, b]) => `${f}("${a}" 1x, ${b} 2x)`)),
  k('image-set("a.png" 1x, url(b.png) 2x)', '-webkit-image-set(url(a.png) 1x, url(b.png) 2x)', 'image-set("a.png" type("image/webp"), "b.png" type("image/png"))', 'image-set(url(a.png) 1x)'),
);
const important = pick(w(8, ''), k(' !important', '!important'));
const colon = pick(w(6, ':'), k(': ', ' : ', ':\n'));

/** One declaration: image-bearing properties, IE hacks, custom properties, non-image ones, comments, junk. */
const cssDecl = pick(
  w(4, cat(k('background', 'BACKGROUND', 'Background'), colon, opt(k('#fff ', 'red ', 'none, '), 0.3), cssUrl, opt(k(' no-repeat', ' 0 0 / cover', ', url(b.png)', ' top left'), 0.3), important)),
  w(3, cat(k('background-image', 'Background-Image'), colon, pick(w(3, cssUrl), imageSet, 'none'), important)),
  w(1, cat(k('*background', '_background-image', '_background', '*background-image'), colon, cssUrl)),
  w(1, cat(k('list-style', 'list-style-image'), colon, cssUrl, opt(' disc'))),
  w(1, cat('cursor', colon, cssUrl, k(',auto', ', pointer', ''))),
  w(1, cat('content', colon, pick(cssUrl, k('"x"', '"url(a.png)"')))),
  w(1, cat(k('--bg', '--Image', '--x'), colon, pick(w(3, cssUrl), imageSet, '"a.png"'))),
  w(1, cat(k('border-image', 'border-image-source', 'mask', 'mask-image', '-webkit-mask-image'), colon, cssUrl, opt(' 30 round'))),
  w(0.7, cat(k('behavior', 'filter', 'src', 'background-color'), colon, cssUrl)),
  w(0.5, k('background:var(--bg)', 'background-image:var(--Image, url(fallback.png))')),
  w(2, k('color:red', 'width:10px', 'display:none', 'font-family:"x"', `font-family:"${SJIS_A0}"`, `font-family:${SJIS_5C}`, 'margin:0 !important', 'background-color:#fff', 'background:none', `content:"${utf8('张')}"`)),
  w(0.7, k('/* url(x.png) */', '/* background:url(c.png) */', '/**/background:url(d.png)')),
  w(0.3, k('background:url(', 'background:url("a.png)', 'background', ':url(a.png)', '}', '{')),
);
/** A style attribute's value: declarations, sometimes with `&quot;` around the URL (the attribute decodes it). */
const inlineCss = pick(
  w(8, cat(fc.array(cssDecl, { minLength: 1, maxLength: 3 }).chain((ds) => k(';', '; ', ' ; ', ';\n').map((s) => ds.join(s))), opt(k(';', '; '), 0.3))),
  w(1, k('background:url(&quot;q.png&quot;)', 'background-image:url(&#39;q.png&#39;)', 'background:url(&quot;a&amp;b.png&quot;)', 'background:url(&quot;http://cdn.example/q.png&quot;)', 'background:url(a.png&#41;', '')),
);
const cssDeclList = cat(many(cssDecl, 3, 0, ';'), opt(';', 0.3));
const cssSelector = k('.a', 'body', '#x', 'div > p', 'a:hover', 'li::before', 'p,h1', `.${SJIS_5C}`, '*', 'html');
/** A stylesheet as found in `<style>`: rules, at-rules that are not images (`@import`, `@font-face`), CDO/CDC. */
const stylesheet = many(
  pick(
    w(6, cat(cssSelector, k('{', '{ ', ' {\n'), cssDeclList, k('}', ' }', '\n}'))),
    w(1, k('@import url(x.css);', '@import "y.css";', '@import url("z.css") screen;', '@import url(x.png);')),
    w(1, k('@font-face{font-family:f;src:url(f.woff) format("woff"),url(f.ttf)}', '@font-face { src: url("f.png") }')),
    w(1, cat(k('@media (min-width:1px){', '@supports (display:grid){', '@layer base{'), cssSelector, '{', cssDeclList, '}}')),
    w(1, k('<!--', '-->', '<!-- ', ' -->')),
    w(0.5, k('/* url(x.png) */', '@charset "utf-8";', '/* unterminated')),
    w(0.2, k('.x{content:"</style>"}', '.y{background:url(')),
  ),
  5,
  0,
  '\n',
);

// ---------------------------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------------------------

/**
 * `name=value` with every quoting: double (a `"` inside written as a reference), single, unquoted (raw even
 * when the value holds spaces or quotes, so that it splits as browsers split it), spaces around `=`;
 * names mostly lower case, sometimes upper case or capitalised.
 */
function attr(name: Part, value: Part): Arb {
  return fc
    .tuple(lift(name), lift(value), pick(w(6, 'dq'), w(2, 'sq'), w(2, 'uq'), w(1, 'sp')), pick(w(8, 'l'), 'U', 'C'), fc.boolean())
    .map(([n0, v, quote, nc, alt]) => {
      const n = nc === 'U' ? n0.toUpperCase() : nc === 'C' ? n0.charAt(0).toUpperCase() + n0.slice(1) : n0;
      const dq = `${n}="${v.replace(/"/g, alt ? '&quot;' : '&#34;')}"`;
      switch (quote) {
        case 'sq':
          return `${n}='${v.replace(/'/g, '&#39;')}'`;
        case 'uq':
          return v === '' || /[\s"'=<>`]/.test(v) ? (alt ? dq : `${n}=${v}`) : `${n}=${v}`;
        case 'sp':
          return alt ? `${n} = "${v.replace(/"/g, '&quot;')}"` : `${n}\n=\t'${v.replace(/'/g, '&#39;')}'`;
        default:
          return dq;
      }
    });
}

/** The opt-out attribute (SPEC §3) in all its spellings; only the `false` ones opt out. */
const aiCompress = pick(
  w(6, k('ai-compress="false"', 'ai-compress=false', "ai-compress='false'", 'ai-compress="FALSE"', 'AI-COMPRESS=false', 'ai-compress = "false"', 'Ai-Compress="False"')),
  w(3, k('ai-compress="true"', 'ai-compress', 'ai-compress=""', 'ai-compress=" false"', 'ai-compress="false "', 'ai-compress=no', 'ai-compress=false/')),
);

/** Attributes that never carry an image, with markup and references in their values. */
const miscAttr = pick(
  w(4, attr(k('alt', 'title', 'class', 'id', 'width', 'height', 'loading', 'decoding', 'data-x', 'lang'), pick(k('x', 'a<b', '<img src=x.png>', '100', 'lazy', '', 'a"b', "a'b", 'x y', '>'), highBytes, charRef))),
  w(1, k('hidden', 'async', 'x', 'ismap', '/', 'a="x"b="y"', "='x'", '"q"', '<', 'x\0y=1', 'alt=\0', 'src=&quot;x&quot;')),
);
const srcAttr = attr('src', url);
const srcsetAttr = attr('srcset', srcset);
const styleAttr = attr('style', inlineCss);
const backgroundAttr = attr('background', url);
const dataSrcAttr = attr(pick(w(4, 'data-src'), 'DATA-SRC'), url);
const dataSrcsetAttr = attr('data-srcset', srcset);
const sizesAttr = attr('sizes', sizes);

/** What separates attributes: whitespace, `/`, and sometimes nothing (`a="x"b="y"`). */
const attrSep = pick(w(14, ' '), k('\n', '\t', '  ', '\f', '\r\n', ' / ', '/'), w(1.5, ''));
/** Before the first attribute: never nothing (that would change the tag name). */
const firstSep = pick(w(14, ' '), k('\n', '\t', '  ', '\f', '/', ' / '));
/** A run of attributes with their separators (each preceded by one). */
function attrs(item: Arb, max: number, min = 0): Arb {
  return fc
    .array(fc.tuple(attrSep, firstSep, item), { minLength: min, maxLength: max })
    .map((xs) => xs.map(([s, f, a], i) => (i === 0 ? f : s) + a).join(''));
}
/** The end of a start tag: `>` mostly, else the (ignored or self-closing) slash and spaces. */
const tagClose = pick(w(12, '>'), k('/>', ' />', ' >', '\n>', '/ >'));
const openTag = (name: string, attributes: Part = ''): Arb => cat('<', nameCase(name), attributes, tagClose);
/** An end tag, sometimes with upper case, spaces, attributes or a slash (all ignored by the tree builder). */
const closeTag = (name: string): Arb =>
  pick(w(12, `</${name}>`), `</${name.toUpperCase()}>`, `</${name} >`, `</${name} class="x">`, `</${name}/>`, `</${name}\n>`);
/** End tags that close something else, or nothing: misnesting and stray end tags. */
const strayEnd = k('</b>', '</p>', '</div>', '</picture>', '</table>', '</svg>', '</math>', '</span>', '</a>', '</font>', '</select>', '</template>', '</noscript>', '</body>', '</html>', '</td>', '</tr>', '</li>', '</form>', '</i>', '</h1>', '</br>', '</img>', '</head>', '</video>', '</sarcasm>');
/** How an element with children ends: its end tag, nothing (left open), or an unrelated end tag. */
const closing = (name: string): Arb => pick(w(7, closeTag(name)), w(2, ''), w(2, strayEnd));

// ---------------------------------------------------------------------------------------------------------------
// Leaves: text, comments, void and image elements, raw text (no recursion)
// ---------------------------------------------------------------------------------------------------------------

/** Text: words, references, high bytes, CR/CRLF/FF/NUL, and lone `<`, `</`, `<!` that may start markup. */
const text = many(
  pick(
    w(6, k('hello', ' ', 'x', 'Lorem ipsum', '\n', 'a.png', '1 < 2')),
    w(2, charRef),
    w(1.5, highBytes),
    w(1, k('\r\n', '\r', '\f', '\t', '  ')),
    w(0.1, '\0'),
    w(1, k('<', '< img', '<3', 'a > b', '</', '<!', '&', 'a<b', '<>')),
    w(0.5, k('m=ic,webp', '?m=ic', 'url(a.png)', 'src=a.png', ']]>', '-->')),
  ),
  5,
  1,
);

/** Comments as browsers end them (`<!-->`, `<!--->`, `--!>`), conditional comments, bogus comments, CDATA outside foreign content (a bogus comment there). */
const comment = pick(
  w(4, k('<!-- x -->', '<!---->', '<!-->', '<!--->', '<!-- a --!>', '<!-- <img src=a.png> -->', '<!--[if IE]><img src="ie.png"><![endif]-->', '<!-- -- -->', '<!--<!-- x -->', '<!--\r\n-->', `<!-- ${utf8('张')} -->`, '<!-- a -- b --->')),
  w(2, k('<!x>', '<?php echo 1; ?>', '<?php echo "<img src=a.png>"; ?>', '</ x>', '<?xml version="1.0"?>', '<!ELEMENT br EMPTY>', '</#>', '</>', '</3>', '<!>', '<![CDATA[ <img src=x.png> ]]>', '<![CDATA[x]]>', '<!--x-- >-->')),
);
const doctype = k('<!DOCTYPE html>', '<!doctype html>', '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">', '<!DOCTYPE html SYSTEM "about:legacy-compat">', '<!DOCTYPE>', '<!DOCTYPEhtml>', '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">', '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">', '<!DOCTYPE svg>');

/** `<img>`: src, srcset, lazy attributes, style, opt-out, duplicates (first wins), other attributes. */
const img = cat(
  '<',
  pick(w(10, 'img'), 'IMG', 'Img'),
  attrs(pick(w(6, srcAttr), w(3, srcsetAttr), w(1, sizesAttr), w(2, dataSrcAttr), w(1.5, dataSrcsetAttr), w(1.5, styleAttr), w(1.5, aiCompress), w(2, miscAttr)), 5, 1),
  tagClose,
);
/** `<image src>`: the tree builder makes it an `<img>` outside SVG. */
const image = openTag('image', attrs(pick(w(4, srcAttr), srcsetAttr, aiCompress, miscAttr), 3, 1));
/** `<source>` with srcset (image-bearing only inside `<picture>`), media, type, sizes, src, lazy and opt-out attributes. */
const source = openTag(
  'source',
  attrs(pick(w(6, srcsetAttr), w(1, attr('media', k('(min-width: 800px)', 'print'))), w(1, attr('type', k('image/webp', 'image/avif', 'video/mp4'))), sizesAttr, w(1, srcAttr), dataSrcsetAttr, dataSrcAttr, w(1.5, aiCompress)), 4, 1),
);
/** `<input>`: only `type=image` carries an image. */
const input = openTag('input', attrs(pick(w(3, attr('type', k('image', 'IMAGE', 'text', 'hidden', 'Image', ' image'))), w(4, srcAttr), aiCompress, miscAttr), 4, 1));
/** `<link>`: preload of images (href and imagesrcset), stylesheets, icons. */
const link = openTag(
  'link',
  attrs(pick(w(3, attr('rel', k('preload', 'preload stylesheet', 'icon', 'stylesheet', 'PRELOAD', 'preload prefetch', 'shortcut icon', 'apple-touch-icon', 'modulepreload', ' preload '))), w(3, attr('as', k('image', 'style', 'IMAGE', 'font', ''))), w(3, attr('href', url)), w(2, attr('imagesrcset', srcset)), w(1, attr('imagesizes', sizes)), aiCompress), 5, 1),
);
/** `<base href>`: relative, same site, other host, data:, javascript:, empty. */
const base = openTag('base', attrs(pick(w(5, attr('href', k('img/', '/sub/', 'http://site.example/dir/', 'https://site.example/', 'http://other.example/', '//cdn.example/', 'data:text/html,x', 'javascript:', '', ' ', 'http://site.example:8080/', '../', 'http://site.example/a/b/c'))), attr('target', '_blank')), 2, 1));
const voidElement = pick(
  w(3, k('<br>', '<br/>', '<BR>', '<hr>', '<wbr>', '<area href=a.png>', '<embed src=a.png>', '<param name=x>', '<track src=a.vtt>', '<col>', '<keygen>', '<img>', '<meta charset=utf-8>', '<img/src=a.png>', '<img src=a.png/>', '<img\0 src=a.png>')),
  w(1, cat('<', k('br', 'hr', 'embed', 'area', 'wbr'), attrs(pick(styleAttr, backgroundAttr, srcAttr), 2, 1), '>')),
);

/** Script bodies: markup-looking strings, `<!--` / `<script>` / `</script>` escapes (double-escaped state). */
const scriptBody = many(
  pick(
    w(4, k('var s = "<img src=a.png>";', "document.write('<img src=\"x.png\">');", 'if (a<b && c>d) {}', 'x = "</scr" + "ipt>";', '\n', ' ', 'a --> b', `s="${utf8('张')}"`, '/* <style> */', "'</noscript>'")),
    w(2, k('<!--', '-->', '<script>', '<!-- <script> var x = "</script>"; </script> -->', '<!--<script>', '<!-- x -->', '<SCRIPT >')),
    w(0.4, k('</script>', '</script x>', '</SCRIPT>')),
  ),
  4,
);
/** Raw text bodies (xmp, iframe, noembed, noframes, style-less): markup that must stay text. */
const rawBody = many(k('<img src=a.png>', '<b>x</b>', 'text', '</p>', '<!-- x -->', '&amp;', '</xm', '<picture><source srcset=a.png></picture>', '\n', utf8('张') + '\xA0'), 4);
/** RCDATA bodies (textarea, title): markup-looking text and references. */
const rcdataBody = many(pick(w(3, k('<img src=a.png>', 'text', '<b>bold</b>', '<!--', '</textarea', '</title', '\n', '</ti tle>')), charRef, highBytes), 4);

/** `<script>`, `<style>`, textarea, title, xmp, iframe, noembed, noframes with their bodies and end tags. */
const rawText = pick(
  w(3, cat(openTag('script', opt(attrs(pick(attr('type', k('text/template', 'text/javascript', 'module', 'text/html')), attr('src', k('x.js', 'a.png'))), 2), 0.3)), scriptBody, pick(w(10, '</script>'), k('</SCRIPT>', '</script >', '</script foo="bar">', '</script\n>')))),
  w(3, cat(openTag('style', opt(attrs(attr('media', k('screen', 'print')), 1), 0.2)), stylesheet, pick(w(10, '</style>'), k('</STYLE>', '</style >')))),
  w(1, cat(openTag('textarea'), rcdataBody, closeTag('textarea'))),
  w(1, cat(openTag('title'), rcdataBody, closeTag('title'))),
  w(1, cat('<xmp>', rawBody, closeTag('xmp'))),
  w(1, cat('<', k('iframe', 'IFRAME'), attrs(pick(w(2, dataSrcAttr), srcAttr, dataSrcsetAttr, styleAttr), 2), '>', rawBody, closeTag('iframe'))),
  w(1, cat(k('<noembed>', '<noframes>'), rawBody, k('</noembed>', '</noframes>'))),
);

/** Attributes of any container: style with url(), legacy background (image-bearing only on some), opt-out, lazy ones. */
const anyAttrs = attrs(pick(w(3, styleAttr), w(2, backgroundAttr), w(1, aiCompress), w(0.5, dataSrcAttr), w(2, miscAttr), w(0.5, attr('bgcolor', k('red', '#fff')))), 3);

/** A nested `<body>` or second `<html>` start tag: its attributes merge into the existing element. */
const mergingTag = pick(
  w(3, cat('<', k('body', 'BODY'), attrs(pick(w(3, backgroundAttr), w(2, styleAttr), aiCompress, miscAttr), 3, 1), '>')),
  w(2, cat('<', k('html', 'HTML'), attrs(pick(w(3, styleAttr), backgroundAttr, miscAttr), 2, 1), '>')),
  w(0.3, k('<head>', '<head><base href="/x/">')),
);

/** Content of `<head>`: title, base, meta, link, style, script, noscript (with images and a stylesheet link), template. */
const headItem = pick(
  w(2, base),
  w(2, link),
  w(2, rawText),
  w(1, k('<meta charset="utf-8">', '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis">', '\n', '  ')),
  w(1, cat('<noscript>', many(pick(img, link, '<style>.a{background:url(n.png)}</style>', text), 2), opt('</noscript>', 0.8))),
  w(1, comment),
);

// ---------------------------------------------------------------------------------------------------------------
// The recursive grammar
// ---------------------------------------------------------------------------------------------------------------

/** One piece of flow content. Depth 0 holds leaves only; containers hold `piece(d - 1)`. */
const piece: (d: number) => Arb = byDepth((d) => {
  const leaves: Weighted[] = [
    w(6, text),
    w(2, comment),
    w(6, img),
    w(2, image),
    w(1.5, input),
    w(1.5, link),
    w(1.5, voidElement),
    w(1, source),
    w(1, base),
    w(4, rawText),
    w(1.5, strayEnd),
    w(1, mergingTag),
    w(0.7, cat('<', k('svg', 'SVG', 'math'), opt(' viewBox="0 0 1 1"'), '/>')),
    w(0.3, doctype),
  ];
  if (d === 0) return pick(...leaves);
  const c = d - 1;
  return pick(
    ...leaves,
    w(6, block(c)),
    w(4, formatting(c)),
    w(2, misnest(c)),
    w(4, picture(c)),
    w(1.5, video(c)),
    w(3, table(c)),
    w(1.5, select(c)),
    w(1.5, template(c)),
    w(1.5, noscript(c)),
    w(3, svg(c)),
    w(2, math(c)),
    w(0.2, frameset),
  );
});

/** Zero to four pieces. */
const flow = byDepth((d) => many(piece(d), 4));

/** Block and phrasing containers: div, p, span, li, headings, form, … with any attributes. */
const block = byDepth((d) =>
  k('div', 'p', 'span', 'li', 'ul', 'ol', 'h1', 'h3', 'form', 'center', 'section', 'blockquote', 'pre', 'dl', 'dd', 'button', 'label', 'header', 'details', 'figure', 'object', 'marquee', 'listing').chain((name) =>
    cat(openTag(name, anyAttrs), flow(d), closing(name)),
  ),
);

/** Formatting elements of the adoption agency algorithm (a, b, i, font, …), often left open or closed out of order. */
const formatting = byDepth((d) =>
  k('a', 'b', 'i', 'em', 'strong', 'font', 'u', 's', 'small', 'big', 'nobr', 'code', 'tt').chain((name) => {
    const extra = name === 'a' ? attrs(attr('href', url), 1, 1) : name === 'font' ? attrs(attr(k('color', 'face', 'size'), k('red', 'Arial', '3')), 2) : fc.constant('');
    return cat(openTag(name, cat(extra, anyAttrs)), flow(d), closing(name));
  }),
);

/** `<X>…<Y>…</X>…</Y>`: end tags in the wrong order (the adoption agency reparents). */
const misnest = byDepth((d) =>
  fc.tuple(k('b', 'i', 'a', 'font', 'p', 'div', 'em', 'nobr', 'span', 'table', 'picture', 'li'), k('b', 'i', 'a', 'div', 'p', 'u', 'picture', 'span', 'h1', 'table')).chain(([x, y]) =>
    cat(`<${x}${x === 'a' ? ' href=x' : x === 'picture' ? ' ai-compress="false"' : ''}>`, flow(d), `<${y}>`, flow(d), `</${x}>`, flow(d), opt(`</${y}>`, 0.75)),
  ),
);

/** `<picture>` with sources, an img, text; opt-out on the picture; left open or closed by an unrelated end tag. */
const picture = byDepth((d) => {
  const child = pick(w(6, source), w(4, img), w(2, text), comment, w(0.5, '<picture>'), w(0.5, rawText), w(d > 0 ? 1 : 0.01, piece(Math.max(0, d - 1))));
  return pick(
    w(6, cat('<', k('picture', 'PICTURE'), attrs(pick(w(3, aiCompress), styleAttr, miscAttr), 2), '>', many(child, 4), closing('picture'))),
    // The opt-out picture left open, ended by the end tag of its parent, followed by images that must be marked again.
    w(1, cat(k('<div>', '<p>', '<span>', '<li>', '<td>'), '<picture ai-compress="false">', many(pick(source, img), 3, 1), k('</div>', '</p>', '</span>', '</li>', '</td>', '</table>'), img, opt(cat('<picture>', source, '</picture>')))),
  );
});

/** `<video poster>` with `<source>` children (not image-bearing there) and fallback content. */
const video = byDepth((d) =>
  cat('<', k('video', 'audio'), attrs(pick(w(3, attr('poster', url)), aiCompress, srcAttr, styleAttr, k('controls')), 3), '>', many(pick(w(3, source), img, text, w(1, piece(Math.max(0, d - 1)))), 3), closing('video')),
);

/** Tables: sections, rows, cells with background, caption, colgroup, and text or images that get foster-parented. */
const table = byDepth((d) => {
  const cell = cat(
    '<',
    k('td', 'th', 'TD'),
    attrs(pick(w(3, backgroundAttr), styleAttr, miscAttr, aiCompress), 2),
    '>',
    flow(Math.max(0, d - 1)),
    pick(w(3, ''), k('</td>', '</th>', '</tr>')),
  );
  const row = cat('<', k('tr', 'TR'), attrs(pick(w(2, backgroundAttr), styleAttr), 1), '>', many(pick(w(4, cell), text, img), 3), opt('</tr>'));
  const foster = pick(w(3, text), w(3, img), k('foo', 'x\xA0', ' ', '<div style="background:url(f.png)">f</div>', '<form>', '<input type=hidden>', '<input type=image src=i.png>'), w(1, piece(0)));
  const item = pick(
    w(5, row),
    w(3, cell),
    w(2, cat('<', k('thead', 'tbody', 'tfoot'), attrs(pick(backgroundAttr, styleAttr), 1), '>', many(row, 2), opt(k('</thead>', '</tbody>', '</tfoot>')))),
    w(1, cat('<caption>', flow(Math.max(0, d - 1)), opt('</caption>', 0.7))),
    w(1, k('<colgroup><col span=2></colgroup>', '<col>', '<colgroup>')),
    w(3, foster),
    w(1, rawText),
    w(0.5, template(Math.max(0, d - 1))),
    w(0.5, k('<table>', '</table>', '</tbody>', '</caption>', '</td>')),
  );
  return cat('<', k('table', 'TABLE'), attrs(pick(w(3, backgroundAttr), styleAttr, miscAttr, aiCompress), 2), '>', many(item, 4), closing('table'));
});

/** `<select>` with options, and images, text and markup inside it. */
const select = byDepth((d) =>
  cat(
    '<select>',
    many(pick(w(3, cat('<option>', text, opt('</option>'))), w(1, cat('<optgroup label=g>', '<option>x', opt('</optgroup>'))), w(2, img), w(1, text), w(1, k('<hr>', '<input>', '<b>', '<select>', '<textarea>', '<keygen>')), w(1, piece(Math.max(0, d - 1)))), 4),
    pick(w(4, '</select>'), '', strayEnd),
  ),
);

/** `<template>` (also declarative shadow roots): content rewritten, its `<base>` not applying to the page. */
const template = byDepth((d) =>
  cat(
    '<template',
    opt(k(' shadowrootmode="open"', ' id=t'), 0.3),
    '>',
    many(pick(w(3, piece(d)), w(2, picture(d)), w(2, base), w(2, img), w(1, k('<tr><td background=t.gif>x', '<td>y', '<col>', '<caption>c'))), 4),
    pick(w(6, '</template>'), '', strayEnd),
  ),
);

/** `<noscript>` with images and pictures, and a script inside that contains `</noscript>`. */
const noscript = byDepth((d) =>
  cat(
    '<noscript>',
    many(pick(w(4, img), w(2, picture(d)), w(1, text), w(1, link), w(1, '<script>document.write("</noscript>")</script>'), w(1, '<p>'), w(1, piece(d))), 3),
    pick(w(6, '</noscript>'), '', '</NOSCRIPT>'),
  ),
);

/** A frameset document (only applies when nothing came before; it swallows the rest otherwise). */
const frameset = k('<frameset cols="50%,50%"><frame src=a.html><frame src=b.png></frameset><noframes><img src=nf.png></noframes>', '<frameset><frame src=x>', '<frameset></frameset><img src=after.png>');

// ---------------------------------------------------------------------------------------------------------------
// Foreign content: SVG and MathML
// ---------------------------------------------------------------------------------------------------------------

/** Start tags that leave foreign content (and `<font>` only with color/face/size). */
const breakout = pick(
  w(3, img),
  w(4, cat('<', k('b', 'div', 'p', 'span', 'br', 'table', 'ul', 'body', 'h1', 'pre', 'center', 'li', 'dl', 'em', 'nobr', 'i', 's', 'small', 'strong', 'sub', 'sup', 'tt', 'u', 'var', 'listing', 'menu', 'meta', 'hr', 'embed', 'code', 'big', 'blockquote', 'dd', 'dt', 'head', 'ruby', 'strike', 'h6'), opt(cat(' ', pick(styleAttr, backgroundAttr, miscAttr)), 0.3), '>')),
  w(2, cat('<font', k(' color=red', ' face="Arial"', ' size=3', '', ' class=x', ' COLOR=red'), '>')),
  w(1, k('</p>', '</br>', '</div>')),
);
const foreignClose = pick(w(4, '/>'), w(3, '>'), ' />');

/** Children of `<svg>`: shapes, `<image href>`, `<use>`, groups, integration points holding HTML, CDATA, breakouts. */
const svgChild: (d: number) => Arb = byDepth((d) => {
  const html = flow(Math.max(0, d - 1));
  const leaves: Weighted[] = [
    w(3, cat('<', k('rect', 'path', 'circle', 'line'), k(' d="M0 0"', ' width=1 height="1"', '', ` style="fill:url(#g)"`), foreignClose)),
    w(3, cat('<', k('image', 'IMAGE', 'feImage'), attrs(pick(w(3, attr(k('href', 'xlink:href'), url)), styleAttr, srcAttr, aiCompress, attr('width', '1')), 3, 1), foreignClose)),
    w(1.5, k('<use href="#a"/>', '<use xlink:href="sprite.svg#a"/>', '<use href="a.png"></use>')),
    w(2, k('<![CDATA[ <img src=c.png> ]]>', '<![CDATA[x]]>', '<![CDATA[]]>', '<![CDATA[ a ]] > ]]>')),
    w(3, breakout),
    w(2, text),
    w(1, comment),
    w(1, cat('<style>', k('<![CDATA[', ''), stylesheet, k(']]>', ''), '</style>')),
    w(1, k('<script>var s = "<img src=s.png>";</script>', '<script><![CDATA[ if (a<b) x(); ]]></script>', '<script><!-- <img src=q.png> --></script>')),
    w(1, k('</svg>', '</math>', '</g>', '</foreignObject>', '</desc>', '</title>')),
    w(0.5, k('<svg/>', '<math/>', '<svg>')),
    w(0.5, base),
  ];
  if (d === 0) return pick(...leaves);
  const c = d - 1;
  return pick(
    ...leaves,
    w(3, cat('<g', opt(cat(' ', styleAttr), 0.3), '>', many(svgChild(c), 3), closing('g'))),
    w(1, cat('<a href="#x">', many(svgChild(c), 2), '</a>')),
    w(1, cat('<text>', text, opt('<tspan>t</tspan>'), opt('</text>', 0.75))),
    w(3, cat('<', k('foreignObject', 'foreignobject', 'FOREIGNOBJECT'), opt(' width=10', 0.3), '>', html, pick(w(4, '</foreignObject>'), '', '</svg>'))),
    w(2, cat('<', k('desc', 'title'), '>', html, pick(w(4, k('</desc>', '</title>')), ''))),
    w(1, cat(k('<clipPath>', '<mask>', '<pattern>', '<defs>', '<symbol id=a>'), many(svgChild(c), 2), opt(k('</clipPath>', '</mask>', '</pattern>', '</defs>', '</symbol>')))),
    w(1, svg(c)),
    w(1, math(c)),
    w(1, cat(breakout, html)),
  );
});

/** `<svg>` with children, closed, left open, or closed by an unrelated end tag. */
const svg = byDepth((d) =>
  cat('<', k('svg', 'SVG', 'Svg'), attrs(pick(w(2, attr('viewBox', '0 0 10 10')), attr('xmlns', 'http://www.w3.org/2000/svg'), styleAttr, aiCompress), 2), '>', many(svgChild(d), 4), pick(w(6, '</svg>'), w(2, ''), w(1, strayEnd), '</SVG>')),
);

/** Children of `<math>`: token elements (text integration points holding HTML), mglyph, malignmark, annotation-xml. */
const mathChild: (d: number) => Arb = byDepth((d) => {
  const html = flow(Math.max(0, d - 1));
  const annotationXml = cat(
    '<annotation-xml',
    k(' encoding="text/html"', ' encoding="application/xhtml+xml"', ' encoding="image/svg+xml"', '', ' ENCODING="TEXT/HTML"', ' encoding=text/plain', ' encoding="text/html "'),
    '>',
    pick(w(3, html), w(2, svg(Math.max(0, d - 1))), w(1, img)),
    opt('</annotation-xml>', 0.75),
  );
  const leaves: Weighted[] = [
    w(3, cat('<', k('mi', 'mo', 'mn', 'ms', 'mtext'), '>', pick(w(3, text), w(2, img), k('<mglyph/>', '<malignmark/>', '<mglyph src=g.png>', '<b>x</b>', '<svg><image href=m.png></svg>')), opt(k('</mi>', '</mo>', '</mn>', '</ms>', '</mtext>'), 0.75))),
    w(1, k('<mglyph src=a.png/>', '<malignmark/>', '<mspace/>', '<annotation>a &lt; b</annotation>')),
    w(2, k('<![CDATA[ <img src=c.png> ]]>', '<![CDATA[x]]>')),
    w(2, breakout),
    w(1, text),
    w(0.5, k('</math>', '</svg>', '</mi>')),
  ];
  if (d === 0) return pick(...leaves);
  const c = d - 1;
  return pick(
    ...leaves,
    w(3, cat('<', k('mi', 'mo', 'mn', 'ms', 'mtext'), '>', html, opt(k('</mi>', '</mo>', '</mn>', '</ms>', '</mtext>'), 0.75))),
    w(2, cat('<mrow>', many(mathChild(c), 3), opt('</mrow>', 0.75))),
    w(3, cat(opt('<semantics>'), opt('<mi>x</mi>'), annotationXml, opt('</semantics>'))),
    w(1, svg(c)),
    w(1, cat(breakout, html)),
  );
});

/** `<math>` with children, closed, left open, or closed by an unrelated end tag. */
const math = byDepth((d) =>
  cat('<', k('math', 'MATH'), opt(' display="block"', 0.3), '>', many(mathChild(d), 4), pick(w(6, '</math>'), w(2, ''), w(1, strayEnd))),
);

// ---------------------------------------------------------------------------------------------------------------
// Whole documents
// ---------------------------------------------------------------------------------------------------------------

/** What may end a document: unclosed comment, plaintext, unclosed raw text or tag, content after `</html>`. */
const tail = pick(
  w(30, ''),
  w(1, k('<!-- unclosed comment <img src=u.png>', '<!--', '<!-- x --')),
  w(1, cat('<plaintext>', many(pick(img, text, '</plaintext>'), 3))),
  w(1, k('<script>unclosed <img src=x.png>', '<style>.a{background:url(x.png)}', '<textarea><img src=t.png>', '<title>x', '<xmp><img src=a.png>')),
  w(1, k('<img src="a.png', '<img src=a.png', '<img src=', '<img ', '<', '<!', '&', '</', '<!DOCTYPE', '<svg><![CDATA[ <img src=a.png>', '&amp', '&#x26')),
  w(1, cat(k('</body></html>', '</html>', '</body>'), many(pick(img, comment, text, '\n'), 2, 1))),
);

/** The start of a document: BOM, doctype, `<html>`, `<head>` with its content, `<body>` with attributes. */
const prologue = cat(
  opt(k('\xEF\xBB\xBF', '\n', '  '), 0.1),
  opt(doctype, 0.75),
  opt(k('\n', '\r\n')),
  opt(cat('<', k('html', 'HTML'), attrs(pick(styleAttr, attr('lang', k('en', 'ja')), backgroundAttr), 2), '>')),
  opt(cat(pick(w(3, '<head>'), '<HEAD>', ''), many(headItem, 4), opt(k('</head>', '</HEAD>', '</head >'), 0.7))),
  opt(cat('<', k('body', 'BODY'), attrs(pick(w(3, backgroundAttr), w(2, styleAttr), aiCompress, miscAttr), 3), '>')),
);

const epilogue = opt(k('</body></html>', '</body>\n</html>\n', '</html>', '\n'));

let documentArb: Arb | undefined;

/**
 * Whole HTML documents as binary strings (one char per byte, all ≤ 0xFF), typically 50–2000 bytes, rarely up
 * to ~20 KB: a prologue, a sequence of pieces of the recursive grammar, an epilogue and sometimes an odd tail.
 * Never contains `m=ic,webp,avif,zorro`.
 */
export function htmlDocument(): fc.Arbitrary<string> {
  documentArb ??= cat(
    prologue,
    pick(w(10, many(piece(3), 5, 1)), w(6, many(piece(2), 8, 1)), w(0.4, many(piece(2), 150, 40))),
    epilogue,
    tail,
  ).map(withoutFullMark);
  return documentArb;
}

/**
 * Where to cut a document of `length` bytes into stream chunks: a sorted list of distinct positions in
 * [1, length - 1], from none to about eight, sometimes a run of consecutive positions (1-byte chunks) around one
 * region so that a token is split at every byte.
 */
export function chunkBoundaries(length: number): fc.Arbitrary<number[]> {
  if (length < 2) return fc.constant([]);
  const position = fc.integer({ min: 1, max: length - 1 });
  const scattered = fc.uniqueArray(position, { maxLength: Math.min(8, length - 1) });
  const run = fc.tuple(position, fc.integer({ min: 1, max: 8 })).map(([start, n]) => {
    const cuts: number[] = [];
    for (let p = start; p < start + n && p <= length - 1; p++) cuts.push(p);
    return cuts;
  });
  const sortedDistinct = (xs: number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<number[]>([]) },
    { weight: 5, arbitrary: scattered.map(sortedDistinct) },
    { weight: 3, arbitrary: fc.tuple(run, fc.uniqueArray(position, { maxLength: 2 })).map(([r, s]) => sortedDistinct([...r, ...s])) },
  );
}
