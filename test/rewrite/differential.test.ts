/**
 * Issue 14, acceptance 1: the HTML rewriter against parse5's tree builder (scripting on), on thousands of
 * generated documents (test/support/html-grammar.ts), each fed in randomly cut chunks.
 *
 *   (a) the output with the marks taken out is the input, less the `ai-compress` attributes of its start tags;
 *   (b) parse5's tree of the output is the tree of the input with exactly the same-site image URLs of SPEC §3
 *       marked: every image attribute of every HTML element (template contents and `<noscript>` contents, read
 *       as a browser without scripts would, included) holds its value with the mark inserted where SPEC §2 puts
 *       it, or unchanged when it must stay (another site, opted out, not an image); `<style>` contents likewise;
 *       no element keeps an `ai-compress` attribute.
 *
 * The reference decides from the tree parse5 builds of the whole input, never from the rewriter's own state:
 * which elements are HTML, who is whose parent, where a `<picture>` ends, which `<base>` counts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type DefaultTreeAdapterMap, defaultTreeAdapter, html, parse, parseFragment, Parser, type Token } from 'parse5';
import { HtmlRewriter } from '../../src/rewrite/index.js';
import { attributeSpans } from '../../src/rewrite/attribute-source.js';
import { declaredCharset } from '../../src/rewrite/charset-prescan.js';
import { declarationImageUrls, stylesheetImageUrls } from '../../src/rewrite/css-urls.js';
import { srcsetUrls } from '../../src/rewrite/srcset.js';
import { urlMark } from '../../src/rewrite/url-marker.js';
import { chunkBoundaries, htmlDocument } from '../support/html-grammar.js';

type Element = DefaultTreeAdapterMap['element'];
type ParentNode = DefaultTreeAdapterMap['parentNode'];
type Template = DefaultTreeAdapterMap['template'];

const ALL = { webp: true, avif: true, zorro: true };
const MARK = 'm=ic,webp,avif,zorro';
const DOCUMENT_URL = new URL('http://site.example/dir/page.html');
const marking = { site: new URL('http://site.example/'), capabilities: ALL };
const LAZY = ['data-src', 'data-srcset'];
const SEED = Number(process.env.DIFFERENTIAL_SEED ?? 20261127);
const RUNS = Number(process.env.DIFFERENTIAL_RUNS ?? 3000);

function rewrite(input: string, cuts: readonly number[]): string {
  const rewriter = new HtmlRewriter({ documentUrl: DOCUMENT_URL, marking, lazyAttributes: LAZY });
  let out = '';
  let from = 0;
  for (const cut of [...cuts, input.length]) {
    out += rewriter.write(input.slice(from, cut));
    from = cut;
  }
  return out + rewriter.end();
}

const withoutMarks = (text: string) => text.split(`&amp;${MARK}`).join('').split(`&${MARK}`).join('').split(`?${MARK}`).join('');
const isAsciiWhitespace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r';

/** Every `ai-compress` attribute of a start tag the tree builder reads: the spans the rewriter may remove. */
function optOutSpans(input: string): { start: number; end: number }[] {
  const spans: { start: number; end: number }[] = [];
  class Recorder extends Parser<DefaultTreeAdapterMap> {
    override onStartTag(token: Token.TagToken): void {
      const span = token.location?.attrs?.['ai-compress'];
      if (span && token.location) {
        spans.push({ start: span.startOffset, end: span.endOffset });
        // Duplicates, which the tokenizer does not report, go too.
        for (const duplicate of attributeSpans(text, span.endOffset, token.location.endOffset)) {
          if (duplicate.name === 'ai-compress') spans.push(duplicate);
        }
      }
      super.onStartTag(token);
    }
  }
  let text = input;
  const record = (source: string, offset: number, fragment: boolean) => {
    text = source;
    const parser = fragment
      ? Recorder.getFragmentParser(defaultTreeAdapter.createElement('body', html.NS.HTML, []), { sourceCodeLocationInfo: true, scriptingEnabled: false })
      : new Recorder({ sourceCodeLocationInfo: true });
    const before = spans.length;
    parser.tokenizer.write(source, true);
    for (let i = before; i < spans.length; i += 1) spans[i] = { start: spans[i]!.start + offset, end: spans[i]!.end + offset };
  };
  record(input, 0, false);
  // The content of every <noscript> is read a second time, as markup.
  for (const noscript of noscripts(parse(input, { sourceCodeLocationInfo: true }))) {
    const location = noscript.sourceCodeLocation;
    // A <noscript> the page ends in holds everything to the end.
    if (location?.startTag) record(input.slice(location.startTag.endOffset, location.endTag?.startOffset ?? input.length), location.startTag.endOffset, true);
  }
  return spans.sort((a, b) => a.start - b.start);
}

/**
 * (a): the input with every `ai-compress` attribute of a start tag removed, by the rule the README states: the
 * white space before it goes too when white space or `>` follows, unless that white space follows a `/` or an
 * attribute removed just before; `=` after it leaves a `/` in its place, and a `>` that would follow a `/` (once the
 * attributes are removed) gets a space before it.
 */
function withoutOptOuts(input: string): string {
  let out = '';
  let copied = 0;
  let previousEnd = -1;
  for (const span of optOutSpans(input)) {
    if (span.start < copied) continue;
    let from = span.start;
    let text = '';
    const next = input[span.end];
    if (/^[\t\n\f\r ]*=/.test(input.slice(span.end, span.end + 64))) {
      text = '/';
    } else if (isAsciiWhitespace(next) || next === '>') {
      let start = from;
      while (start > copied && isAsciiWhitespace(input[start - 1])) start -= 1;
      // What the output has just before: what a removal right before left there, if one did.
      const before = (at: number) => (at === previousEnd ? out.at(-1) : input[at - 1]);
      if (start === from || (before(start) !== '/' && start !== previousEnd)) from = start;
      if (from === span.start && before(from) === '/' && next === '>') text = ' ';
    }
    out += input.slice(copied, from) + text;
    copied = span.end;
    previousEnd = span.end;
  }
  return out + input.slice(copied);
}

function* noscripts(node: ParentNode): Generator<Element> {
  for (const child of node.childNodes) {
    if (!('tagName' in child)) continue;
    if (child.tagName === 'noscript' && child.namespaceURI === html.NS.HTML) yield child;
    yield* noscripts(child);
    if (child.tagName === 'template' && child.namespaceURI === html.NS.HTML) yield* noscripts(defaultTreeAdapter.getTemplateContent(child as Template));
  }
}

/** SPEC §3's image attributes, written out again for the reference: which kind of URL an attribute holds. */
function referenceKind(element: Element, parent: ParentNode | null, name: string): 'url' | 'srcset' | 'css' | undefined {
  const attr = (n: string) => element.attrs.find((a) => a.name === n)?.value;
  if (name === 'style') return 'css';
  const lazy = LAZY.includes(name) ? (name.endsWith('srcset') ? 'srcset' : 'url') : undefined;
  switch (element.tagName) {
    case 'img':
      return name === 'src' ? 'url' : name === 'srcset' ? 'srcset' : lazy;
    case 'source': {
      const inPicture = parent !== null && 'tagName' in parent && parent.tagName === 'picture' && parent.namespaceURI === html.NS.HTML;
      if (!inPicture) return undefined;
      return name === 'srcset' ? 'srcset' : lazy;
    }
    case 'input':
      return name === 'src' && attr('type')?.toLowerCase() === 'image' && attr('type')?.length === 5 ? 'url' : undefined;
    case 'video':
      return name === 'poster' ? 'url' : undefined;
    case 'link': {
      const preload = (attr('rel') ?? '').toLowerCase().split(/[\t\n\f\r ]+/).includes('preload') && attr('as')?.toLowerCase() === 'image' && attr('as')?.length === 5;
      return preload && name === 'href' ? 'url' : preload && name === 'imagesrcset' ? 'srcset' : undefined;
    }
    default:
      return name === 'background' && ['body', 'table', 'tr', 'thead', 'tbody', 'tfoot', 'td', 'th'].includes(element.tagName) ? 'url' : undefined;
  }
}

const optsOut = (element: Element) => /^[\t\n\f\r ]*false[\t\n\f\r ]*$/i.test(element.attrs.find((a) => a.name === 'ai-compress')?.value ?? '');

/** A value with the marks SPEC §2 inserts for each URL `find` locates in it. */
function marked(value: string, urls: { at: (mark: number) => number; url: string }[], base: URL): string {
  const insertions: { at: number; text: string }[] = [];
  for (const url of urls) {
    const mark = urlMark(url.url, base, marking);
    if (mark) insertions.push({ at: url.at(mark.at), text: `${mark.separator}${mark.parameter}` });
  }
  insertions.sort((a, b) => a.at - b.at);
  let out = '';
  let from = 0;
  for (const insertion of insertions) {
    out += value.slice(from, insertion.at) + insertion.text;
    from = insertion.at;
  }
  return out + value.slice(from);
}

function expectedValue(kind: 'url' | 'srcset' | 'css', value: string, base: URL, charset: string | undefined): string {
  if (kind === 'css') return marked(value, declarationImageUrls(value, charset).map((u) => ({ url: u.url, at: (m) => u.offsets[m]! })), base);
  const spans = kind === 'url' ? [{ start: 0, end: value.length }] : srcsetUrls(value);
  return marked(value, spans.map((s) => ({ url: value.slice(s.start, s.end), at: (m) => s.start + m })), base);
}

const textOf = (element: Element) => (element.childNodes).map((c) => ('value' in c ? c.value : '')).join('');

interface ReferenceTree {
  readonly root: ParentNode;
  /** Attributes a repeated `<html>`/`<body>` tag merged in, with the offset of that tag (a `<base>` between counts). */
  readonly mergedAt: Map<Element, Map<string, number>>;
  /**
   * Elements that sat inside an opted-out `<picture>` when the tree builder inserted them. The adoption agency may
   * move an element out later (`<a><picture ai-compress=false><div><img></a>`), when the page has streamed past it:
   * the scope is the tree as it stands when the element is made (documented in the README).
   */
  readonly insertedOptedOut: Set<Element>;
  /** Formatting elements the tree builder made again from an earlier tag (reconstruction, adoption agency). */
  readonly copies: Set<Element>;
}

/** parse5's tree (default tree adapter) of a document, or of a `<noscript>`'s content read without scripting. */
function referenceParse(input: string, fragment = false): ReferenceTree {
  const mergedAt = new Map<Element, Map<string, number>>();
  const insertedOptedOut = new Set<Element>();
  const copies = new Set<Element>();
  const hosts = new Map<ParentNode, Element>();
  let tagOffset = 0;
  const treeAdapter = {
    ...defaultTreeAdapter,
    adoptAttributes(recipient: Element, attrs: Token.Attribute[]) {
      for (const attr of attrs) {
        if (recipient.attrs.some((own) => own.name === attr.name)) continue;
        if (!mergedAt.has(recipient)) mergedAt.set(recipient, new Map());
        mergedAt.get(recipient)!.set(attr.name, tagOffset);
      }
      defaultTreeAdapter.adoptAttributes(recipient, attrs);
    },
    setTemplateContent(template: DefaultTreeAdapterMap['template'], content: DefaultTreeAdapterMap['documentFragment']) {
      hosts.set(content, template);
      defaultTreeAdapter.setTemplateContent(template, content);
    },
  };
  class Reference extends Parser<DefaultTreeAdapterMap> {
    override onStartTag(token: Token.TagToken): void {
      tagOffset = token.location?.startOffset ?? 0;
      super.onStartTag(token);
    }
    override _attachElementToTree(element: Element, location: Token.LocationWithAttributes | null, insertionLocation: { parent: ParentNode; beforeElement: Element | null }): void {
      super._attachElementToTree(element, location, insertionLocation);
      if (location && location !== this.currentToken?.location) copies.add(element);
      for (let node: ParentNode | null = insertionLocation.parent; node; node = hosts.get(node) ?? ('parentNode' in node ? node.parentNode : null)) {
        if ('tagName' in node && node.tagName === 'picture' && node.namespaceURI === html.NS.HTML && optsOut(node)) insertedOptedOut.add(element);
      }
    }
  }
  const options = { sourceCodeLocationInfo: true, scriptingEnabled: !fragment, treeAdapter };
  const parser = fragment ? Reference.getFragmentParser(defaultTreeAdapter.createElement('body', html.NS.HTML, []), options) : new Reference(options);
  parser.tokenizer.write(input, true);
  return { root: fragment ? parser.getFragment() : parser.document, mergedAt, insertedOptedOut, copies };
}

interface Walk {
  readonly insertedOptedOut?: Set<Element>;
  readonly copies?: Set<Element>;
  readonly charset?: string;
  /** Where repeated `<html>`/`<body>` tags merged attributes in. */
  readonly mergedAt?: Map<Element, Map<string, number>>;
  /** The `<base href>` elements of the document (outside templates) in tree order, with where each stands. */
  readonly bases: readonly { url: URL; offset: number }[] | undefined;
  readonly fragmentBase?: URL;
}

/**
 * The `<base href>` elements of the document (outside templates) in tree order, with where each stands. The base
 * for an element read at `offset` is the first in tree order of those read before it (HTML standard §4.2.3, as
 * the document stands when the element is read: a browser resolves a URL then).
 */
function bases(document: ParentNode): NonNullable<Walk['bases']> {
  const found: { url: URL; offset: number }[] = [];
  const visit = (node: ParentNode) => {
    for (const child of node.childNodes) {
      if (!('tagName' in child)) continue;
      if (child.tagName === 'base' && child.namespaceURI === html.NS.HTML) {
        const href = child.attrs.find((a) => a.name === 'href');
        if (href) {
          let url = DOCUMENT_URL;
          try {
            const parsed = new URL(href.value, DOCUMENT_URL);
            if (parsed.protocol !== 'data:' && parsed.protocol !== 'javascript:') url = parsed;
          } catch {
            // keeps the document's URL
          }
          found.push({ url, offset: child.sourceCodeLocation?.startOffset ?? 0 });
        }
      }
      visit(child);
    }
  };
  visit(document);
  return found;
}

/**
 * (b): both trees side by side; for every HTML element of the input, the output element in the same place
 * holds the expected values.
 */
function assertTreesAgree(input: ParentNode, output: ParentNode, walk: Walk, inheritedOptOut: boolean): void {
  const visit = (a: ParentNode, b: ParentNode) => {
    const as = (a.childNodes).filter((c) => 'tagName' in c) as Element[];
    const bs = (b.childNodes).filter((c) => 'tagName' in c) as Element[];
    assert.deepEqual(bs.map((e) => e.tagName), as.map((e) => e.tagName), 'the output has the same elements');
    as.forEach((x, index) => {
      const y = bs[index]!;
      if (x.namespaceURI !== html.NS.HTML) {
        assert.ok(!y.attrs.some((attr) => attr.name === 'ai-compress'), `<${y.tagName}> (SVG/MathML) kept its ai-compress attribute`);
        visit(x, y);
        return;
      }
      assert.ok(!y.attrs.some((attr) => attr.name === 'ai-compress'), `<${y.tagName}> kept its ai-compress attribute`);
      if (!x.sourceCodeLocation || walk.copies?.has(x)) {
        // A formatting element the adoption agency or reconstruction copied: its attributes are the bytes of the
        // tag it copies, checked there (one tag, one rewrite, however many elements the tree builder makes of it).
        visit(x, y);
        return;
      }
      const offset = x.sourceCodeLocation?.startOffset ?? 0;
      const baseAt = (at: number) => walk.fragmentBase ?? walk.bases?.find((base) => base.offset < at)?.url ?? DOCUMENT_URL;
      const base = baseAt(offset);
      const optedOutAbove = walk.insertedOptedOut?.has(x) ?? false;
      const optedOut = inheritedOptOut || optedOutAbove || optsOut(x);
      // A repeated <body ai-compress="false"> opts out what arrives with it or after it, not what came before.
      const mergedAt = (name: string) => walk.mergedAt?.get(x)?.get(name) ?? offset;
      for (const attr of x.attrs) {
        if (attr.name === 'ai-compress') continue;
        const base = baseAt(mergedAt(attr.name));
        const optedOut = inheritedOptOut || optedOutAbove || (optsOut(x) && mergedAt('ai-compress') <= mergedAt(attr.name));
        const kind = referenceKind(x, a, attr.name);
        const expected = kind && !optedOut ? expectedValue(kind, attr.value, base, walk.charset) : attr.value;
        const actual = y.attrs.find((other) => other.name === attr.name)?.value;
        assert.equal(actual, expected, `<${x.tagName} ${attr.name}> at ${offset}`);
      }
      if (x.tagName === 'style') {
        const css = textOf(x);
        const expected = optedOut ? css : marked(css, stylesheetImageUrls(css, walk.charset).map((u) => ({ url: u.url, at: (m) => u.offsets[m]! })), base);
        assert.equal(textOf(y), expected, `<style> at ${offset}`);
      }
      if (x.tagName === 'noscript' && walk.fragmentBase === undefined) {
        const context = defaultTreeAdapter.createElement('body', html.NS.HTML, []);
        const options = { scriptingEnabled: false, sourceCodeLocationInfo: true };
        const inner = referenceParse(textOf(x), true);
        assertTreesAgree(inner.root, parseFragment(context, textOf(y), options), { bases: undefined, fragmentBase: base, charset: walk.charset, insertedOptedOut: inner.insertedOptedOut, copies: inner.copies, mergedAt: inner.mergedAt }, optedOut);
      }
      visit(x, y);
      if (x.tagName === 'template' && x.namespaceURI === html.NS.HTML) visit(defaultTreeAdapter.getTemplateContent(x as Template), defaultTreeAdapter.getTemplateContent(y as Template));
    });
  };
  visit(input, output);
}

function check(input: string, cuts: readonly number[]): void {
  const output = rewrite(input, cuts);
  assert.equal(withoutMarks(output), withoutOptOuts(input), 'only the marks and the ai-compress attributes differ');
  const reference = referenceParse(input);
  assertTreesAgree(reference.root, parse(output, { sourceCodeLocationInfo: true }), { bases: bases(reference.root), mergedAt: reference.mergedAt, charset: declaredCharset(input), insertedOptedOut: reference.insertedOptedOut, copies: reference.copies }, false);
}

describe('the rewriter against parse5’s tree builder (issue 14, acceptance 1)', () => {
  it(`${RUNS} generated documents, seed ${SEED}, in random chunks`, () => {
    const documents = htmlDocument().chain((doc) => fc.tuple(fc.constant(doc), chunkBoundaries(doc.length)));
    fc.assert(
      fc.property(documents, ([doc, cuts]) => check(doc, cuts)),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
