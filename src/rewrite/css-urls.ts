import postcss, { type Root } from 'postcss';
import valueParser, { type FunctionNode, type Node as ValueNode } from 'postcss-value-parser';
import type { UrlSpan } from './text-span.js';

/** SPEC §4: the properties whose `url()` and `image-set()` values are images (vendor prefixes aside). */
const IMAGE_PROPERTIES = new Set([
  'background',
  'background-image',
  'border-image',
  'border-image-source',
  'list-style',
  'list-style-image',
  'mask',
  'mask-image',
  'content',
  'cursor',
]);

const IMAGE_SET = new Set(['image-set', '-webkit-image-set']);

/** A cheap test before parsing: most stylesheets and nearly all `style` attributes have no image URL at all. */
export function mayHaveImageUrls(css: string): boolean {
  return /url\(|image-set\(/i.test(css);
}

function isImageProperty(property: string): boolean {
  return IMAGE_PROPERTIES.has(property.toLowerCase().replace(/^-(webkit|moz|ms|o)-/, ''));
}

/**
 * The URL inside `url(…)`, from the function's own source range: postcss-value-parser reads only a lower-case
 * `url(` as one URL token and splits `URL(../img/a.png)` at its slashes, but CSS function names are
 * case-insensitive and legacy stylesheets write them in capitals.
 */
function urlFunctionSpan(value: string, node: FunctionNode): { start: number; end: number } | undefined {
  let start = node.sourceIndex + node.value.length + 1;
  let end = node.unclosed ? node.sourceEndIndex : node.sourceEndIndex - 1;
  while (start < end && /\s/.test(value[start]!)) start += 1;
  while (end > start && /\s/.test(value[end - 1]!)) end -= 1;
  const quote = value[start];
  if ((quote === '"' || quote === "'") && end - start >= 2 && value[end - 1] === quote) {
    start += 1;
    end -= 1;
  }
  return end > start ? { start, end } : undefined;
}

/** URL spans inside one declaration value; `offset` is where the value starts in the whole text. */
function valueUrls(value: string, offset: number, spans: UrlSpan[]): void {
  const visit = (nodes: ValueNode[], inImageSet: boolean) => {
    for (const node of nodes) {
      if (node.type === 'function') {
        const name = node.value.toLowerCase();
        if (name === 'url') {
          const span = urlFunctionSpan(value, node);
          if (span) spans.push({ start: offset + span.start, end: offset + span.end });
        } else {
          visit(node.nodes, IMAGE_SET.has(name));
        }
      } else if (node.type === 'string' && inImageSet && node.value !== '') {
        const start = offset + node.sourceIndex + 1;
        spans.push({ start, end: start + node.value.length });
      }
    }
  };
  visit(valueParser(value).nodes, false);
}

function urlsOf(root: Root, shift: number): UrlSpan[] {
  const spans: UrlSpan[] = [];
  root.walkDecls((decl) => {
    if (!isImageProperty(decl.prop)) return;
    const start = decl.source?.start?.offset;
    if (start === undefined) return;
    const raws = decl.raws as { between?: string; value?: { raw: string } };
    const raw = raws.value?.raw ?? decl.value;
    if (!mayHaveImageUrls(raw)) return;
    valueUrls(raw, start + decl.prop.length + (raws.between ?? '').length - shift, spans);
  });
  return spans.sort((a, b) => a.start - b.start);
}

/**
 * The image URLs of a stylesheet (SPEC §4): in image-bearing properties only, never `@import` or
 * `@font-face src`. A stylesheet that does not parse has none (and passes unchanged).
 */
export function stylesheetImageUrls(css: string): UrlSpan[] {
  if (!mayHaveImageUrls(css)) return [];
  try {
    return urlsOf(postcss.parse(css), 0);
  } catch {
    return [];
  }
}

/** The same for a `style` attribute: a declaration list without a selector. */
export function declarationImageUrls(declarations: string): UrlSpan[] {
  if (!mayHaveImageUrls(declarations)) return [];
  try {
    // Parsed as the body of a rule: the two characters of the wrapper shift every offset.
    return urlsOf(postcss.parse(`a{${declarations}}`), 2);
  } catch {
    return [];
  }
}
