import type { Declaration, Document, Root } from 'postcss';
import safeParse from 'postcss-safe-parser';
import valueParser, { type FunctionNode, type Node as ValueNode } from 'postcss-value-parser';
import { isAsciiWhitespace as isCssWhitespace } from './ascii-whitespace.js';
import { cssUnescape, type CssUrlText, readableCss } from './css-text.js';
import { withoutTrailBytes } from './legacy-charset.js';

/**
 * SPEC §4: the properties whose `url()` and `image-set()` values are images (vendor prefixes aside), and the
 * few others browsers load images for (`-webkit-mask-box-image`, `mask-border`, `shape-outside`).
 */
const IMAGE_PROPERTIES = new Set([
  'background',
  'background-image',
  'border-image',
  'border-image-source',
  'list-style',
  'list-style-image',
  'mask',
  'mask-image',
  'mask-box-image',
  'mask-box-image-source',
  'mask-border',
  'mask-border-source',
  'shape-outside',
  'content',
  'cursor',
]);

const IMAGE_SET = new Set(['image-set', '-webkit-image-set']);

/** An image URL found in CSS: its source span (inside the quotes, if any) and the URL as CSS reads it. */
export interface CssUrl extends CssUrlText {
  readonly start: number;
  readonly end: number;
}

/** A cheap test before parsing: most stylesheets and nearly all `style` attributes have no image URL at all. */
export function mayHaveImageUrls(css: string): boolean {
  return /url\(|image-set\(/i.test(css);
}

/**
 * Custom properties count (SPEC §4): `--bg: url(a.png)` loads its image wherever `var(--bg)` lands in an image
 * property, and nothing says where that is, so every `url()` in a custom property's value is taken for an image.
 */
function isImageProperty(property: string): boolean {
  if (property.startsWith('--')) return true;
  return IMAGE_PROPERTIES.has(property.toLowerCase().replace(/^-(webkit|moz|ms|o)-/, ''));
}

/**
 * The URL inside `url(…)`, from the function's own source range: postcss-value-parser reads only a lower-case
 * `url(` as one URL token and splits `URL(../img/a.png)` at its slashes, but CSS function names are
 * case-insensitive and legacy stylesheets write them in capitals.
 */
function urlFunctionSpan(value: string, node: FunctionNode): { start: number; end: number } | 'bad' | undefined {
  let start = node.sourceIndex + node.value.length + 1;
  let end = node.unclosed ? node.sourceEndIndex : node.sourceEndIndex - 1;
  while (start < end && isCssWhitespace(value[start])) start += 1;
  while (end > start && isCssWhitespace(value[end - 1]) && value[end - 2] !== '\\') end -= 1;
  if (end > value.length) return 'bad';
  const quote = value[start];
  if (quote === '"' || quote === "'") {
    // `url("…")` holds exactly one string: anything else in the parentheses (another string, an unclosed one)
    // makes no URL a browser loads.
    let close = start + 1;
    while (close < end && value[close] !== quote && !/[\n\r\f]/.test(value[close]!)) close += value[close] !== '\\' ? 1 : value[close + 1] === '\r' && value[close + 2] === '\n' ? 3 : 2;
    if (close !== end - 1 || value[close] !== quote) return 'bad';
    start += 1;
    end -= 1;
  } else if (isBadUrl(value, start, end)) {
    return 'bad';
  }
  return end > start ? { start, end } : undefined;
}

/** A bad unquoted `url(…)`: `readableCss` has filled its inside with U+0001 (CSS Syntax §4.3.6). */
function isBadUrl(value: string, start: number, end: number): boolean {
  return value.slice(start, end).includes('\u0001');
}

/**
 * URL spans inside one declaration value; `offset` is where the value starts in the whole (readable) text. A
 * value with a bad URL in it has none: a bad-url token fits no property's grammar, so browsers drop the whole
 * declaration (CSS Syntax §4.3.6, CSS Variables §2 for custom properties).
 */
function valueUrls(css: string, value: string, offset: number, urls: CssUrl[]): void {
  const found: CssUrl[] = [];
  let bad = false;
  const add = (start: number, end: number) => {
    const text = cssUnescape(css, offset + start, offset + end);
    if (text.url !== '') found.push({ start: offset + start, end: offset + end, ...text });
  };
  const visit = (nodes: ValueNode[], inImageSet: boolean) => {
    for (const node of nodes) {
      if (node.type === 'function') {
        const name = node.value.toLowerCase();
        if (name === 'url') {
          const span = urlFunctionSpan(value, node);
          if (span === 'bad') bad = true;
          else if (span) add(span.start, span.end);
        } else {
          visit(node.nodes, IMAGE_SET.has(name));
        }
      } else if (node.type === 'string' && inImageSet && node.value !== '') {
        const start = node.sourceIndex + 1;
        add(start, node.unclosed ? node.sourceEndIndex : node.sourceEndIndex - 1);
      }
    }
  };
  visit(valueParser(value).nodes, false);
  if (!bad) urls.push(...found);
}

/**
 * Where a declaration's value starts in the source. Taken from the source itself, never from postcss's names: an
 * IE hack `*background` is stored as `background` with the `*` moved to `raws.before`, so the name's length is not
 * the distance to the value. `undefined` if the source does not read as expected (the declaration is then left).
 */
function valueOffset(css: string, decl: Declaration, rawValue: string): number | undefined {
  const start = decl.source?.start?.offset;
  if (start === undefined) return undefined;
  const between = decl.raws.between ?? '';
  for (let hack = 0; hack <= 2; hack += 1) {
    const at = start + hack + decl.prop.length + between.length;
    if (css.startsWith(decl.prop, start + hack) && css.startsWith(between, start + hack + decl.prop.length) && css.startsWith(rawValue, at)) return at;
  }
  return undefined;
}

function urlsOf(css: string, root: Root | Document): CssUrl[] {
  const urls: CssUrl[] = [];
  root.walkDecls((decl) => {
    if (!isImageProperty(decl.prop)) return;
    const raws = decl.raws as { value?: { raw: string } };
    const raw = raws.value?.raw ?? decl.value;
    if (!mayHaveImageUrls(raw)) return;
    const at = valueOffset(css, decl, raw);
    if (at !== undefined) valueUrls(css, raw, at, urls);
  });
  return urls.sort((a, b) => a.start - b.start);
}

/**
 * The text postcss is given: trail bytes of a legacy multi-byte charset, top-level CDO/CDC and the inside of bad
 * URLs blanked out, each the same length as before, so every offset holds for the source.
 */
function readable(css: string, charset: string | undefined): string {
  return readableCss(withoutTrailBytes(css, charset));
}

/**
 * The image URLs of a stylesheet (SPEC §4): in image-bearing properties only, never `@import` or
 * `@font-face src`. postcss's safe parser reads what browsers recover from (a block left open at the end, a stray
 * `}`) instead of giving up on the whole sheet; a stylesheet it still cannot read has none (and passes unchanged).
 */
export function stylesheetImageUrls(css: string, charset?: string): CssUrl[] {
  if (!mayHaveImageUrls(css)) return [];
  const text = readable(css, charset);
  try {
    return urlsOf(text, safeParse(text));
  } catch {
    return [];
  }
}

/** `style` attributes repeat across a page and its site: what was found in one is kept, within a bound. */
const declarationCache = new Map<string, readonly CssUrl[]>();
const DECLARATION_CACHE_ENTRIES = 1024;

/** The same for a `style` attribute: a declaration list without a selector. */
export function declarationImageUrls(declarations: string, charset?: string): readonly CssUrl[] {
  if (!mayHaveImageUrls(declarations)) return [];
  const key = `${charset ?? ''}\0${declarations}`;
  let urls = declarationCache.get(key);
  if (!urls) {
    if (declarationCache.size >= DECLARATION_CACHE_ENTRIES) declarationCache.clear();
    urls = parseDeclarations(declarations, charset);
    if (declarations.length < 4096) declarationCache.set(key, urls);
  }
  return urls;
}

function parseDeclarations(declarations: string, charset: string | undefined): readonly CssUrl[] {
  // Parsed as the body of a rule: the two characters of the wrapper shift every offset.
  const text = `a{${readableCss(withoutTrailBytes(declarations, charset))}}`;
  try {
    // A URL that postcss reads past the end of the attribute (an unclosed string or function) is not one.
    return urlsOf(text, safeParse(text)).filter((url) => url.end <= text.length - 1).map((url) => ({
      start: url.start - 2,
      end: url.end - 2,
      url: url.url,
      offsets: url.offsets.map((o) => o - 2),
    }));
  } catch {
    return [];
  }
}
