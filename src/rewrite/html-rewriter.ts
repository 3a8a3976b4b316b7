import { html, type Token } from 'parse5';
import { isAsciiWhitespace } from './ascii-whitespace.js';
import { attributeSpans, decodeAttributeValue, valueSource } from './attribute-source.js';
import { declarationImageUrls, stylesheetImageUrls } from './css-urls.js';
import { declaredCharset, PRESCAN_BYTES } from './charset-prescan.js';
import { cssMarkEdits } from './css-rewriter.js';
import { imageUrlKind, inTemplateContent, isOptedOut, OPT_OUT_ATTRIBUTE, type UrlKind } from './image-attributes.js';
import { srcsetUrls } from './srcset.js';
import { applyEdits, type Edit, type UrlSpan } from './text-span.js';
import { precedes, TreeBuilder, type TreeEvents, type TreeNode } from './tree-builder.js';
import { type MarkingContext, urlMark } from './url-marker.js';

/**
 * A `<style>` or `<noscript>` element is held back until its end tag (its content is rewritten whole), within
 * this size; a larger one passes on unrewritten rather than be held in memory.
 */
const MAX_HELD_CONTENT = 1 << 20;

/**
 * While the tokenizer is inside one long token (a comment, a huge attribute), parse5 keeps the whole token's text
 * in one string and copies it on every write: writing in ever larger pieces keeps that linear in the token's size.
 */
const LONG_TOKEN_BUFFER = 1 << 18;

export interface HtmlRewriteOptions {
  /** The page's URL as the client asked for it. */
  readonly documentUrl: URL;
  readonly marking: MarkingContext;
  readonly lazyAttributes: readonly string[];
  /**
   * The charset label the page came with (Content-Type), if any: how CSS bytes in it are read (SPEC §4). Without
   * one, the page's own declaration counts (byte-order mark, `<meta>` in its first 1024 bytes).
   */
  readonly charset?: string;
}

/** How a nested rewriter (the content of a `<noscript>`) differs from a whole document's. */
interface FragmentContext {
  readonly base: URL;
  readonly optedOut: boolean;
}

interface Held {
  readonly element: TreeNode;
  readonly kind: 'style' | 'noscript';
  /** Where the element's content starts (the end of its start tag). */
  readonly start: number;
}

/**
 * Rewrites image URLs in an HTML document as it streams (SPEC §3). Input and output are "binary" strings (one
 * char per byte): every charset a legacy page may use (UTF-8, windows-1252, ISO-8859-x, Shift_JIS, EUC-JP,
 * GB18030) keeps markup bytes in ASCII, so the tokenizer sees the same structure and marks (ASCII) are spliced
 * in without ever decoding or re-encoding the text: the output is the input byte for byte elsewhere.
 *
 * Which attributes are image URLs of HTML elements is decided by parse5's tree builder (`TreeBuilder`), as a
 * browser's parser decides it; the tokenizer reports where each attribute stands, and only the marks are
 * inserted (and opt-out attributes removed) into the original text: nothing is re-serialised.
 */
export class HtmlRewriter implements TreeEvents {
  private readonly builder: TreeBuilder;
  private readonly lazy: ReadonlySet<string>;
  private base: URL;
  /** Inside `<noscript>` the page's base is already chosen: a browser that runs scripts never sees one there. */
  private readonly baseFixed: boolean;
  /** The `<base href>` element the base comes from. */
  private baseElement: TreeNode | undefined;
  private readonly optedOutFragment: boolean;
  private charset: string | undefined;
  /** Until the first 1024 bytes are in, when the response named no charset. */
  private charsetUnknown: boolean;
  /** Input not yet written out, starting at absolute offset `emitted`. */
  private pending = '';
  private emitted = 0;
  /** Everything before this absolute offset is final. */
  private safe = 0;
  private edits: Edit[] = [];
  private held: Held | undefined;
  /** Input waiting to be given to the tokenizer while it is inside a long token. */
  private unwritten: string[] = [];
  private unwrittenLength = 0;

  constructor(private readonly options: HtmlRewriteOptions, fragment?: FragmentContext) {
    this.base = fragment?.base ?? options.documentUrl;
    this.baseFixed = fragment !== undefined;
    this.optedOutFragment = fragment?.optedOut ?? false;
    this.charset = options.charset;
    this.charsetUnknown = options.charset === undefined && fragment === undefined;
    this.lazy = new Set(options.lazyAttributes.map((a) => a.toLowerCase()));
    this.builder = fragment ? TreeBuilder.forBodyFragment(this) : TreeBuilder.forDocument(this, true);
  }

  /** Feeds a chunk; returns the output that is final so far. */
  write(chunk: string): string {
    this.pending += chunk;
    this.unwritten.push(chunk);
    this.unwrittenLength += chunk.length;
    // The charset a browser would read the page's CSS bytes in is known only from the first 1024 bytes.
    if (this.charsetUnknown) {
      if (this.unwrittenLength < PRESCAN_BYTES) return '';
      this.settleCharset();
    }
    const tokenizer = this.builder.tokenizer;
    if (this.unwrittenLength * 2 < tokenizer.preprocessor.html.length - LONG_TOKEN_BUFFER) return '';
    tokenizer.write(this.unwritten.length === 1 ? this.unwritten[0]! : this.unwritten.join(''), false);
    this.unwritten = [];
    this.unwrittenLength = 0;
    // Text runs are handed on as they are read, not when they end: a page of one long text run streams too.
    tokenizer.flushCurrentCharacterToken();
    return this.flush(this.safe);
  }

  /** Ends the input; returns the rest of the output. */
  end(): string {
    if (this.charsetUnknown) this.settleCharset();
    this.builder.tokenizer.write(this.unwritten.join(''), true);
    this.unwritten = [];
    // Edits exist only for whole tags and contents (a tag cut by the end makes none): all of them apply.
    return this.flush(this.emitted + this.pending.length);
  }

  private settleCharset(): void {
    this.charsetUnknown = false;
    this.charset = declaredCharset(this.unwritten.join(''));
  }

  private flush(upTo: number): string {
    if (upTo <= this.emitted) return '';
    let ready: Edit[] = [];
    if (this.edits.length > 0) {
      ready = this.edits.filter((edit) => edit.start < upTo).sort((a, b) => a.start - b.start || a.end - b.end);
      this.edits = this.edits.filter((edit) => edit.start >= upTo);
    }
    const out = applyEdits(this.pending.slice(0, upTo - this.emitted), ready, this.emitted);
    this.pending = this.pending.slice(upTo - this.emitted);
    this.emitted = upTo;
    return out;
  }

  private text(start: number, end: number): string {
    return this.pending.slice(start - this.emitted, end - this.emitted);
  }

  // TreeEvents: what the tree builder reports.

  read(offset: number): void {
    if (this.held && offset - this.held.start > MAX_HELD_CONTENT) this.held = undefined;
    if (!this.held) this.safe = offset;
  }

  startTag(location: Token.LocationWithAttributes): void {
    // On every start tag, whatever the tree builder makes of it (an SVG element, an ignored `<img>` in a frameset).
    this.removeOptOutAttribute(location);
  }

  element(element: TreeNode, location: Token.LocationWithAttributes): void {
    // Elements in SVG or MathML are not HTML: their `src`, `style` or `<style>` are not what SPEC §3 rewrites.
    if (element.namespaceURI !== html.NS.HTML) return;
    if (element.tagName === 'base') this.chooseBase(element);
    if (element.tagName === 'style' || (element.tagName === 'noscript' && this.builder.options.scriptingEnabled)) {
      this.held = { element, kind: element.tagName, start: location.endOffset };
    }
    this.markAttributes(element, element.attrs, location);
  }

  merged(element: TreeNode, added: readonly Token.Attribute[], location: Token.LocationWithAttributes): void {
    this.markAttributes(element, added, location);
  }

  closed(element: TreeNode, endTag: Token.Location | undefined): void {
    const held = this.held;
    if (held?.element !== element) return;
    this.held = undefined;
    // Without an end tag the page ended inside the element: its content runs to the end, as in browsers.
    const end = endTag ? endTag.startOffset : this.emitted + this.pending.length;
    const content = this.text(held.start, end);
    if (held.kind === 'style') {
      if (!isOptedOut(element) && !this.optedOutFragment) {
        this.edits.push(...cssMarkEdits(stylesheetImageUrls(content, this.charset), held.start, this.base, this.options.marking));
      }
      return;
    }
    // SPEC §3: the <img>s inside <noscript>, as a browser without scripts would read them.
    const nested = new HtmlRewriter({ ...this.options, charset: this.charset }, { base: this.base, optedOut: this.optedOutFragment || isOptedOut(element) });
    const rewritten = nested.write(content) + nested.end();
    if (rewritten !== content) this.edits.push({ start: held.start, end, text: rewritten });
  }

  /**
   * The document's base URL is that of the first `<base href>` in tree order (HTML standard §4.2.3), outside
   * template contents, as it stands when an element is read: a later `<base>` counts only for what follows it,
   * and only if the tree builder puts it ahead of the one chosen (foster parenting puts it before a table that
   * holds that one). Browsers refuse `data:` and `javascript:` bases and keep the document's URL, as for one that
   * does not parse.
   */
  private chooseBase(element: TreeNode): void {
    if (this.baseFixed || inTemplateContent(element)) return;
    const href = element.attrs.find((attr) => attr.name === 'href');
    if (!href || (this.baseElement && !precedes(element, this.baseElement))) return;
    this.baseElement = element;
    this.base = this.options.documentUrl;
    try {
      const base = new URL(href.value, this.options.documentUrl);
      if (base.protocol !== 'data:' && base.protocol !== 'javascript:') this.base = base;
    } catch {
      // Not a URL: the document's own URL stays the base, as in browsers.
    }
  }

  private markAttributes(element: TreeNode, attrs: readonly Token.Attribute[], location: Token.LocationWithAttributes): void {
    let optedOut: boolean | undefined;
    for (const attribute of attrs) {
      const kind = imageUrlKind(element, attribute.name, this.lazy);
      const span = kind && location.attrs?.[attribute.name];
      if (!kind || !span) continue;
      optedOut ??= this.optedOutFragment || isOptedOut(element);
      if (optedOut) return;
      this.markAttribute(kind, attribute.value, span.startOffset, span.endOffset);
    }
  }

  private markAttribute(kind: UrlKind, value: string, start: number, end: number): void {
    const source = valueSource(this.text(start, end), start);
    if (!source) return;
    const raw = this.text(source.start, source.end);
    const decoded = raw.includes('&') || raw.includes('\r') || raw.includes('\0') ? decodeAttributeValue(raw) : undefined;
    // The tokenizer's value and ours must agree, or the offsets would be wrong: then the value is left as it is.
    if ((decoded?.value ?? raw) !== value) return;
    const ampersand = raw.includes('&amp;') ? '&amp;' : '&';
    const insert = (at: number, mark: { separator: '?' | '&'; parameter: string }) => {
      const rawAt = source.start + (decoded ? decoded.offsets[at]! : at);
      this.edits.push({ start: rawAt, end: rawAt, text: (mark.separator === '&' ? ampersand : '?') + mark.parameter });
    };
    if (kind === 'css') {
      for (const url of declarationImageUrls(value, this.charset)) {
        const mark = urlMark(url.url, this.base, this.options.marking);
        if (mark) insert(url.offsets[mark.at]!, mark);
      }
      return;
    }
    const spans: UrlSpan[] = kind === 'url' ? [{ start: 0, end: value.length }] : srcsetUrls(value);
    for (const span of spans) {
      const mark = urlMark(value.slice(span.start, span.end), this.base, this.options.marking);
      if (mark) insert(span.start + mark.at, mark);
    }
  }

  /**
   * SPEC §3: `ai-compress` never reaches the client, on any start tag, duplicates included. The white space
   * before it goes too when white space or `>` follows it, so that no two tokens join: not the next attribute
   * (`ai-compress="false"src=…`), not a `/` with an unquoted value before it or with the `>` after it.
   */
  private removeOptOutAttribute(location: Token.LocationWithAttributes): void {
    const first = location.attrs?.[OPT_OUT_ATTRIBUTE];
    if (!first) return;
    // Extents by the tokenizer's attribute states from the first one on: parse5's span of `ai-compress=>` stops
    // before its `=`, and duplicates have none.
    const spans = attributeSpans(this.pending, first.startOffset - this.emitted, location.endOffset - this.emitted)
      .filter((span) => span.name === OPT_OUT_ATTRIBUTE)
      .map((span) => ({ startOffset: span.start + this.emitted, endOffset: span.end + this.emitted }));
    const at = (offset: number) => this.pending[offset - this.emitted];
    let previousEnd = -1;
    let previousBefore: string | undefined;
    // The character the output has before `offset`: removals right before it do not count.
    const before = (offset: number) => (offset === previousEnd ? previousBefore : at(offset - 1));
    for (const span of spans) {
      let from = span.startOffset;
      let after = span.endOffset;
      while (isAsciiWhitespace(at(after))) after += 1;
      let text = '';
      if (at(after) === '=') {
        // `a ai-compress ='x'`: without it, `a ='x'` would give `a` the value. A `/` keeps `=` starting a name.
        text = '/';
      } else if (isAsciiWhitespace(at(span.endOffset)) || at(span.endOffset) === '>') {
        let start = from;
        while (start > this.emitted && isAsciiWhitespace(at(start - 1))) start -= 1;
        // The white space stays after a `/` (`<svg / ai-compress="false">` must not become the self-closing
        // `<svg />`, another tree) and after an attribute removed just before.
        if (start === from || (before(start) !== '/' && start !== previousEnd)) from = start;
        if (from === span.startOffset && before(from) === '/' && at(span.endOffset) === '>') text = ' ';
      }
      this.edits.push({ start: from, end: span.endOffset, text });
      previousBefore = text === '' ? before(from) : text[text.length - 1];
      previousEnd = span.endOffset;
    }
  }
}
