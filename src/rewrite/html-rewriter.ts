import { Tokenizer, TokenizerMode, type Token } from 'parse5';
import { decodedToRaw, valueSource } from './attribute-source.js';
import { declarationImageUrls, stylesheetImageUrls } from './css-urls.js';
import { cssMarkEdits } from './css-rewriter.js';
import { srcsetUrls } from './srcset.js';
import { applyEdits, type Edit, type UrlSpan } from './text-span.js';
import { type MarkingContext, urlMark } from './url-marker.js';

type TagToken = Token.TagToken;
type UrlKind = 'url' | 'srcset';

/** SPEC §3: the attributes that hold image URLs, per element. */
const URL_ATTRIBUTES: Readonly<Record<string, Readonly<Record<string, UrlKind>>>> = {
  img: { src: 'url', srcset: 'srcset' },
  source: { srcset: 'srcset' },
  input: { src: 'url' },
  video: { poster: 'url' },
  body: { background: 'url' },
  table: { background: 'url' },
  td: { background: 'url' },
  th: { background: 'url' },
};

/** Elements that take lazy-loading attributes (`data-src`, `data-srcset` by default). */
const LAZY_ELEMENTS = new Set(['img', 'source']);

/**
 * The tokenizer states the HTML tree builder sets after these start tags (HTML standard §13.2.6.4): their
 * content is text, so `<img src=…>` inside a script is never taken for a tag. `noscript` is left out on purpose:
 * its `<img>` is rewritten as markup (SPEC §3), as a browser without scripting would parse it.
 */
const TEXT_CONTENT_STATE: Readonly<Record<string, (typeof TokenizerMode)[keyof typeof TokenizerMode]>> = {
  title: TokenizerMode.RCDATA,
  textarea: TokenizerMode.RCDATA,
  style: TokenizerMode.RAWTEXT,
  xmp: TokenizerMode.RAWTEXT,
  iframe: TokenizerMode.RAWTEXT,
  noembed: TokenizerMode.RAWTEXT,
  noframes: TokenizerMode.RAWTEXT,
  script: TokenizerMode.SCRIPT_DATA,
  plaintext: TokenizerMode.PLAINTEXT,
};

const OPT_OUT_ATTRIBUTE = 'ai-compress';
/** A `<style>` element larger than this is passed on unrewritten rather than held back in memory. */
const MAX_STYLE_ELEMENT = 1 << 20;

export interface HtmlRewriteOptions {
  /** The page's URL as the client asked for it. */
  readonly documentUrl: URL;
  readonly marking: MarkingContext;
  readonly lazyAttributes: readonly string[];
}

/**
 * Rewrites image URLs in an HTML document as it streams (SPEC §3). Input and output are "binary" strings (one
 * char per byte): every charset a legacy page may use (UTF-8, windows-1252, ISO-8859-x, Shift_JIS, EUC-JP,
 * GB18030) keeps markup bytes in ASCII, so the tokenizer sees the same structure and marks (ASCII) are spliced
 * in without ever decoding or re-encoding the text: the output is the input byte for byte elsewhere.
 *
 * parse5's tokenizer reports where each attribute stands; the original text is copied through and only the
 * marks are inserted (and opt-out attributes removed), so nothing is re-serialised.
 */
export class HtmlRewriter {
  private readonly tokenizer: Tokenizer;
  private readonly lazy: ReadonlySet<string>;
  private base: URL;
  private baseSeen = false;
  /** Input not yet written out, starting at absolute offset `emitted`. */
  private pending = '';
  private emitted = 0;
  /** Everything before this absolute offset is final. */
  private safe = 0;
  private edits: Edit[] = [];
  /** Inside `<svg>`/`<math>`: no text-content states there. */
  private foreignDepth = 0;
  private pictureDepth = 0;
  private optedOutPictureDepth = 0;
  private styleContentStart = -1;

  constructor(private readonly options: HtmlRewriteOptions) {
    this.base = options.documentUrl;
    this.lazy = new Set(options.lazyAttributes.map((a) => a.toLowerCase()));
    this.tokenizer = new Tokenizer({ sourceCodeLocationInfo: true }, {
      onStartTag: (token) => this.onStartTag(token),
      onEndTag: (token) => this.onEndTag(token),
      onComment: (token) => this.advance(token.location?.endOffset),
      onDoctype: (token) => this.advance(token.location?.endOffset),
      onCharacter: (token) => this.advance(token.location?.endOffset),
      onNullCharacter: (token) => this.advance(token.location?.endOffset),
      onWhitespaceCharacter: (token) => this.advance(token.location?.endOffset),
      onEof: () => undefined,
    });
  }

  /** Feeds a chunk; returns the output that is final so far. */
  write(chunk: string): string {
    this.pending += chunk;
    this.tokenizer.write(chunk, false);
    return this.flush(this.safe);
  }

  /** Ends the input; returns the rest of the output. */
  end(): string {
    this.tokenizer.write('', true);
    // An unclosed <style> (or a token cut by the end) is passed on as it is.
    this.edits = this.edits.filter((edit) => edit.start < this.safe);
    return this.flush(this.emitted + this.pending.length);
  }

  private flush(upTo: number): string {
    if (upTo <= this.emitted) return '';
    const ready = this.edits.filter((edit) => edit.start < upTo).sort((a, b) => a.start - b.start);
    this.edits = this.edits.filter((edit) => edit.start >= upTo);
    const out = applyEdits(this.pending.slice(0, upTo - this.emitted), ready, this.emitted);
    this.pending = this.pending.slice(upTo - this.emitted);
    this.emitted = upTo;
    return out;
  }

  private advance(offset: number | undefined): void {
    if (offset === undefined) return;
    // A <style> element is held back until its end tag (its URLs are found by parsing it whole), within reason.
    if (this.styleContentStart >= 0 && offset - this.styleContentStart > MAX_STYLE_ELEMENT) this.styleContentStart = -1;
    if (this.styleContentStart < 0) this.safe = offset;
  }

  private text(start: number, end: number): string {
    return this.pending.slice(start - this.emitted, end - this.emitted);
  }

  private onStartTag(token: TagToken): void {
    const name = token.tagName;
    if (this.foreignDepth > 0) {
      if ((name === 'svg' || name === 'math') && !token.selfClosing) this.foreignDepth += 1;
    } else if ((name === 'svg' || name === 'math') && !token.selfClosing) {
      this.foreignDepth = 1;
      this.tokenizer.inForeignNode = true;
    } else {
      this.rewriteElement(token);
      const state = TEXT_CONTENT_STATE[name];
      if (state !== undefined) this.tokenizer.state = state;
      if (name === 'style' && token.location) this.styleContentStart = token.location.endOffset;
    }
    if (this.styleContentStart < 0) this.advance(token.location?.endOffset);
  }

  private onEndTag(token: TagToken): void {
    const name = token.tagName;
    if (this.foreignDepth > 0) {
      if (name === 'svg' || name === 'math') {
        this.foreignDepth -= 1;
        if (this.foreignDepth === 0) this.tokenizer.inForeignNode = false;
      }
    } else if (name === 'picture') {
      if (this.optedOutPictureDepth === this.pictureDepth && this.optedOutPictureDepth > 0) this.optedOutPictureDepth = 0;
      this.pictureDepth = Math.max(0, this.pictureDepth - 1);
    } else if (name === 'style' && this.styleContentStart >= 0 && token.location) {
      const start = this.styleContentStart;
      this.styleContentStart = -1;
      this.edits.push(...cssMarkEdits(this.text(start, token.location.startOffset), start, this.base, this.options.marking, stylesheetImageUrls));
    }
    this.advance(token.location?.endOffset);
  }

  private rewriteElement(token: TagToken): void {
    const name = token.tagName;
    const location = token.location;
    if (!location) return;
    if (name === 'picture') this.pictureDepth += 1;
    if (name === 'base' && !this.baseSeen) {
      const href = token.attrs.find((a) => a.name === 'href');
      if (href) {
        this.baseSeen = true;
        try {
          this.base = new URL(href.value, this.options.documentUrl);
        } catch {
          // A <base href> that is not a URL is ignored, as browsers do.
        }
      }
    }

    let optedOut = this.optedOutPictureDepth > 0;
    const optOut = token.attrs.find((a) => a.name === OPT_OUT_ATTRIBUTE);
    if (optOut) {
      const span = location.attrs?.[OPT_OUT_ATTRIBUTE];
      if (span) this.removeAttribute(span.startOffset, span.endOffset);
      if (optOut.value.trim().toLowerCase() === 'false') {
        optedOut = true;
        if (name === 'picture') this.optedOutPictureDepth = this.pictureDepth;
      }
    }
    if (optedOut) return;

    const urlAttributes = URL_ATTRIBUTES[name];
    const isImageInput = name !== 'input' || token.attrs.some((a) => a.name === 'type' && a.value.trim().toLowerCase() === 'image');
    const inPicture = name !== 'source' || this.pictureDepth > 0;
    for (const attribute of token.attrs) {
      let kind: UrlKind | 'css' | undefined;
      if (attribute.name === 'style') kind = 'css';
      else if (urlAttributes && isImageInput && inPicture) kind = urlAttributes[attribute.name];
      if (kind === undefined && LAZY_ELEMENTS.has(name) && this.lazy.has(attribute.name)) {
        kind = attribute.name.endsWith('srcset') ? 'srcset' : 'url';
      }
      const span = kind && location.attrs?.[attribute.name];
      if (kind && span) this.markAttribute(kind, attribute.value, span.startOffset, span.endOffset);
    }
  }

  private markAttribute(kind: UrlKind | 'css', decoded: string, start: number, end: number): void {
    const source = valueSource(this.text(start, end), start);
    if (!source) return;
    const raw = this.text(source.start, source.end);
    const map = raw === decoded ? undefined : decodedToRaw(raw, decoded);
    if (raw !== decoded && !map) return;
    const spans: UrlSpan[] =
      kind === 'url' ? [{ start: 0, end: decoded.length }] : kind === 'srcset' ? srcsetUrls(decoded) : declarationImageUrls(decoded);
    const ampersand = raw.includes('&amp;') ? '&amp;' : '&';
    for (const span of spans) {
      const mark = urlMark(decoded.slice(span.start, span.end), this.base, this.options.marking);
      if (!mark) continue;
      const at = span.start + mark.at;
      const rawAt = source.start + (map ? map[at]! : at);
      const separator = mark.separator === '&' ? ampersand : '?';
      this.edits.push({ start: rawAt, end: rawAt, text: separator + mark.parameter });
    }
  }

  private removeAttribute(start: number, end: number): void {
    let from = start;
    while (from > this.emitted && /[\t\n\f\r ]/.test(this.pending[from - 1 - this.emitted]!)) from -= 1;
    this.edits.push({ start: from, end, text: '' });
  }
}
