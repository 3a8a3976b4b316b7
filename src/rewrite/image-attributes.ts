import { html } from 'parse5';
import { splitOnAsciiWhitespace, trimAsciiWhitespace } from './ascii-whitespace.js';
import type { TreeNode } from './tree-builder.js';

/** How an attribute holds image URLs: one URL, a `srcset` list, or CSS declarations. */
export type UrlKind = 'url' | 'srcset' | 'css';

/** SPEC §3: the legacy `background` attribute, on the elements where browsers still honour it. */
const BACKGROUND_ELEMENTS = new Set(['body', 'table', 'tr', 'thead', 'tbody', 'tfoot', 'td', 'th']);

function attributeValue(element: TreeNode, name: string): string | undefined {
  return element.attrs.find((attr) => attr.name === name)?.value;
}

/** Enumerated attributes (`type`, `as`) match their keywords ASCII case-insensitively, with no trimming. */
function isKeyword(value: string | undefined, keyword: string): boolean {
  return value !== undefined && value.length === keyword.length && value.toLowerCase() === keyword;
}

/**
 * What kind of image URLs `attribute` holds on `element` (an HTML element as the tree builder made it, with its
 * parent), or `undefined` for none. SPEC §3's list; `lazy` are the configured lazy-loading attributes.
 */
export function imageUrlKind(element: TreeNode, attribute: string, lazy: ReadonlySet<string>): UrlKind | undefined {
  if (attribute === 'style') return 'css';
  switch (element.tagName) {
    case 'img':
      if (attribute === 'src') return 'url';
      if (attribute === 'srcset') return 'srcset';
      break;
    case 'source': {
      // A <source> chooses an image only as a child of a <picture> (HTML standard §4.8.1, "source" content model).
      const parent = element.parent;
      if (!parent || parent.tagName !== 'picture' || parent.namespaceURI !== html.NS.HTML) return undefined;
      if (attribute === 'srcset') return 'srcset';
      break;
    }
    case 'input':
      return attribute === 'src' && isKeyword(attributeValue(element, 'type'), 'image') ? 'url' : undefined;
    case 'video':
      return attribute === 'poster' ? 'url' : undefined;
    case 'link': {
      // <link rel=preload as=image>: else the preload fetches the unmarked URL and the <img> the marked one.
      if (attribute !== 'href' && attribute !== 'imagesrcset') return undefined;
      const rel = splitOnAsciiWhitespace((attributeValue(element, 'rel') ?? '').toLowerCase());
      if (!rel.includes('preload') || !isKeyword(attributeValue(element, 'as'), 'image')) return undefined;
      return attribute === 'href' ? 'url' : 'srcset';
    }
    default:
      return attribute === 'background' && BACKGROUND_ELEMENTS.has(element.tagName) ? 'url' : undefined;
  }
  if (lazy.has(attribute)) return attribute.endsWith('srcset') ? 'srcset' : 'url';
  return undefined;
}

/** `ai-compress="false"` (ASCII case-insensitive, surrounding ASCII white space ignored). */
export function optsOut(element: TreeNode): boolean {
  const value = attributeValue(element, OPT_OUT_ATTRIBUTE);
  return value !== undefined && trimAsciiWhitespace(value).toLowerCase() === 'false';
}

export const OPT_OUT_ATTRIBUTE = 'ai-compress';

/**
 * Whether the site owner opted `element` out (SPEC §3): `ai-compress="false"` on the element itself, or on a
 * `<picture>` it sits in. The scope is the element in the tree the standard builds (template contents included),
 * so an unclosed `<picture>` ends where the tree builder ends it, not at some later `</picture>`.
 */
export function isOptedOut(element: TreeNode): boolean {
  if (optsOut(element)) return true;
  for (let node = ancestorOf(element); node; node = ancestorOf(node)) {
    if (node.tagName === 'picture' && node.namespaceURI === html.NS.HTML && optsOut(node)) return true;
  }
  return false;
}

/** The parent, or for a template's content, the template. */
function ancestorOf(node: TreeNode): TreeNode | null {
  return node.host ?? node.parent;
}

/** Whether `element` is inside a template's content (not part of the document until a script clones it). */
export function inTemplateContent(element: TreeNode): boolean {
  for (let node: TreeNode | null = element; node; node = node.parent) if (node.host) return true;
  return false;
}
