/**
 * The CSS side of issue 14: the image URLs slimproxy finds in a stylesheet (postcss, plus what it does around
 * postcss: CDO/CDC, IE hacks, escapes, custom properties, bad URLs) against css-tree, a parser that follows CSS
 * Syntax Level 3, on thousands of generated stylesheets. Both must find the same URLs, read the same way
 * (escapes resolved), in the properties of SPEC §4.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as csstree from 'css-tree';
import fc from 'fast-check';
import { stylesheetImageUrls } from '../../src/rewrite/css-urls.js';

const SEED = Number(process.env.DIFFERENTIAL_SEED ?? 20261127);
const RUNS = Number(process.env.DIFFERENTIAL_RUNS ?? 3000);

const IMAGE_PROPERTIES = ['background', 'background-image', 'border-image', 'border-image-source', 'list-style', 'list-style-image', 'mask', 'mask-image', 'mask-box-image', 'mask-box-image-source', 'mask-border', 'mask-border-source', 'shape-outside', 'content', 'cursor'];

/** css-tree's reading: every url() and image-set() string in an image property or a custom property. */
function referenceUrls(css: string): string[] {
  const urls: string[] = [];
  let ast: csstree.CssNode;
  try {
    // A browser decodes the bytes first, and a UTF-8 byte-order mark goes then.
    ast = csstree.parse(css.replace(/^\xEF\xBB\xBF/, ''), { parseCustomProperty: true });
  } catch {
    return [];
  }
  csstree.walk(ast, {
    visit: 'Declaration',
    enter(node) {
      const property = node.property.replace(/^[*_]/, '');
      const custom = property.startsWith('--');
      if (!custom && !IMAGE_PROPERTIES.includes(property.toLowerCase().replace(/^-(webkit|moz|ms|o)-/, ''))) return;
      csstree.walk(node.value, function (this: csstree.WalkContext, child) {
        if (child.type === 'Url' && child.value !== '') urls.push(child.value);
        const parent = this.function;
        if (child.type === 'String' && parent && /^(-webkit-)?image-set$/i.test(parent.name) && child.value !== '') urls.push(child.value);
      });
    },
  });
  return urls.sort();
}

const k = (...xs: string[]) => fc.constantFrom(...xs);
const urlText = k('a.png', '/img/b.gif', '../c.jpg?x=1', 'd.png#f', 'http://site.example/e.png', 'a\\3f b.png', 'a\\).png', 'my\\ file.png', '\\61 .png', 'x\xE5\xBC\xA0.png', 'a%20b.png', 'q.png?m=ic,webp');
const url = fc.oneof(
  urlText.map((u) => `url(${u})`),
  urlText.map((u) => `url( ${u} )`),
  urlText.map((u) => `URL(${u})`),
  urlText.map((u) => `url("${u}")`),
  urlText.map((u) => `url('${u}')`),
  k('url(a b.png)', 'url(a".png)', "url(a'.png)", 'url(a(b.png)', 'url()', 'url("")', 'url(\\\n.png)'),
);
const imageSet = fc.tuple(k('image-set', '-webkit-image-set'), urlText, url).map(([f, a, b]) => `${f}("${a}" 1x, ${b} 2x)`);
const valueItem = fc.oneof({ weight: 4, arbitrary: url }, { weight: 1, arbitrary: imageSet }, { weight: 2, arbitrary: k('no-repeat', 'top left', '#fff', '10px', 'var(--bg)', 'auto', '/* url(c.png) */', 'none', '"text"', 'attr(x)') });
const value = fc.array(valueItem, { minLength: 1, maxLength: 3 }).map((xs) => xs.join(' '));
const property = k('background', 'background-image', 'BACKGROUND', '*background', '_background-image', '-webkit-mask-image', 'list-style', 'cursor', 'content', 'border-image', '--bg', '--Icon', 'color', 'behavior', 'filter', 'src', 'font-family');
const declaration = fc.tuple(property, k(':', ' : ', ':\n  ', '/*c*/:'), value, k('', ' !important', '!important')).map(([p, c, v, i]) => `${p}${c}${v}${i}`);
const block = fc.array(declaration, { minLength: 0, maxLength: 4 }).chain((ds) => k(';', '; ', ';\n').map((sep) => ds.join(sep)));
const rule = fc.tuple(k('a', '.x', '#y > p', 'p:hover', '*html .z'), block, k('', ';')).map(([s, b, end]) => `${s}{${b}${end}}`);
const item = fc.oneof(
  { weight: 6, arbitrary: rule },
  { weight: 1, arbitrary: rule.map((r) => `@media print{${r}}`) },
  { weight: 1, arbitrary: k('@import url(x.css);', '@font-face{font-family:f;src:url(f.woff)}', '@charset "utf-8";', '/* a{background:url(no.png)} */', '<!--', '-->', '\n') },
);
/**
 * Sheets as hand-written legacy CSS leaves them: a block left open at the end, a BOM. (Not a stray `}` at the top
 * level: parsers differ on what it ends, and slimproxy then marks what postcss's safe parser recovers.)
 */
const stylesheet = fc
  .tuple(k('', '', '\xEF\xBB\xBF'), fc.array(item, { minLength: 1, maxLength: 6 }), k('', '', '.open{background:url(open.png)', '.open{color:red'))
  .map(([bom, xs, tail]) => bom + xs.join('\n') + tail);

describe('CSS image URLs against css-tree (issue 14)', () => {
  it(`${RUNS} generated stylesheets, seed ${SEED}`, () => {
    fc.assert(
      fc.property(stylesheet, (css) => {
        assert.deepEqual(stylesheetImageUrls(css).map((u) => u.url).sort(), referenceUrls(css));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
