import { Tokenizer, TokenizerMode } from 'parse5';

/**
 * Runs of code points that a tokenizer state treats one by one, all alike: each pattern matches, from where it is
 * applied, the longest stretch of input on which the state would only append to its token and stay where it is
 * (the HTML standard §13.2.5, "anything else" of each state). A carriage return never belongs to a run: the
 * preprocessor turns it (and a CR LF pair) into one line feed, so parse5 takes it on its own path.
 */
const TEXT = /[^\r<&\0]+/y;
const WHITESPACE = /[\t\n\f ]+/y;
/** Script data, RAWTEXT and PLAINTEXT have no character references: `&` is text there. */
const RAW_TEXT = /[^\r<\0]+/y;
const TAG_NAME = /[^\t\n\f\r />\0]+/y;
/** `"`, `'` and `<` are parse errors in a name, and still part of it. */
const ATTRIBUTE_NAME = /[^\t\n\f\r />=\0]+/y;
const DOUBLE_QUOTED = /[^"&\r\0]+/y;
const SINGLE_QUOTED = /[^'&\r\0]+/y;
/** `"`, `'`, `<`, `=` and `` ` `` are parse errors in an unquoted value, and still part of it. */
const UNQUOTED = /[^\t\n\f\r &>\0]+/y;
const COMMENT = /[^<\-\r\0]+/y;

const CARRIAGE_RETURN = 0x0d;
const ASCII_UPPER = /[A-Z]/;
const isWhitespace = (cp: number): boolean => cp === 0x20 || cp === 0x0a || cp === 0x09 || cp === 0x0c;

/**
 * parse5's tokenizer, with the same states, tokens and locations, that takes the runs above in one step instead of
 * one code point per turn of its loop: on markup, tag names, attribute values and text are most of the input, and
 * the per-code-point loop most of parse5's time. Each override first lets parse5 handle the code point in hand as
 * it always does (so every token boundary, error path and state change stays parse5's own), then, if the state is
 * unchanged, consumes the rest of the run and appends it to the token as parse5 would have code point by code point.
 *
 * The preprocessor's line and column are not advanced over a run (the rewriter works with offsets only); its
 * offset, hibernation at a chunk's end and CR LF handling are kept exact, since a run stops before any CR.
 * The differential test (test/rewrite/differential.test.ts) holds this to parse5's own tree builder.
 */
export class RunTokenizer extends Tokenizer {
  /** Consumes the run that `pattern` matches right after the current code point (a name); returns it (or ''). */
  private takeRun(pattern: RegExp): string {
    const preprocessor = this.preprocessor;
    const from = preprocessor.pos + 1;
    pattern.lastIndex = from;
    if (!pattern.test(preprocessor.html)) return '';
    const to = pattern.lastIndex;
    preprocessor.pos = to - 1;
    const run = preprocessor.html.slice(from, to);
    // As parse5's `_flushRun`: V8 lets a slice of 13 characters or more share the input's buffer, which a name
    // kept on an open element would then keep alive; a concatenation sliced again is a string of its own.
    return run.length < 13 ? run : ` ${run}`.slice(1);
  }

  /** Extends the pending run of the current value (attribute value, comment, text) over `pattern`'s match. */
  private extendRunOver(pattern: RegExp): void {
    const preprocessor = this.preprocessor;
    // The code point in hand came from a CR: parse5 appended a line feed of its own, not a run of the input.
    if (preprocessor.html.charCodeAt(preprocessor.pos) === CARRIAGE_RETURN) return;
    pattern.lastIndex = preprocessor.pos + 1;
    if (!pattern.test(preprocessor.html)) return;
    preprocessor.pos = pattern.lastIndex - 1;
    this.runEnd = pattern.lastIndex;
  }

  /**
   * parse5 splits text into tokens of white space and of other characters (a token per word of prose); here a
   * character token takes the white space after it too. The tree builder treats such white space as part of the
   * text before it in every insertion mode where the split matters to elements (HTML standard §13.2.6: white space
   * is told apart only where no other character came first: before `<head>`/`<body>`, in a table, in a column
   * group, in a frameset, after `<pre>`), so the elements made are the same; only text nodes could differ, and the
   * rewriter keeps none.
   */
  private textRun(cp: number, text: RegExp): void {
    const token = this.currentCharacterToken;
    if (token === null || cp === 0) return;
    this.extendRunOver(isWhitespace(cp) ? WHITESPACE : text);
  }

  protected override _stateData(cp: number): void {
    super._stateData(cp);
    if (this.state === TokenizerMode.DATA) this.textRun(cp, TEXT);
  }

  protected override _stateRcdata(cp: number): void {
    super._stateRcdata(cp);
    if (this.state === TokenizerMode.RCDATA) this.textRun(cp, TEXT);
  }

  protected override _stateRawtext(cp: number): void {
    super._stateRawtext(cp);
    if (this.state === TokenizerMode.RAWTEXT) this.textRun(cp, RAW_TEXT);
  }

  protected override _stateScriptData(cp: number): void {
    super._stateScriptData(cp);
    if (this.state === TokenizerMode.SCRIPT_DATA) this.textRun(cp, RAW_TEXT);
  }

  protected override _statePlaintext(cp: number): void {
    super._statePlaintext(cp);
    this.textRun(cp, RAW_TEXT);
  }

  protected override _stateTagName(cp: number): void {
    const state = this.state;
    super._stateTagName(cp);
    if (this.state !== state || this.currentToken === null || !('tagName' in this.currentToken)) return;
    const run = this.takeRun(TAG_NAME);
    if (run) this.currentToken.tagName += ASCII_UPPER.test(run) ? asciiLowercase(run) : run;
  }

  protected override _stateAttributeName(cp: number): void {
    const state = this.state;
    super._stateAttributeName(cp);
    if (this.state !== state) return;
    const run = this.takeRun(ATTRIBUTE_NAME);
    if (run) this.currentAttr.name += ASCII_UPPER.test(run) ? asciiLowercase(run) : run;
  }

  protected override _stateAttributeValueDoubleQuoted(cp: number): void {
    const state = this.state;
    super._stateAttributeValueDoubleQuoted(cp);
    if (this.state === state && cp !== 0) this.extendRunOver(DOUBLE_QUOTED);
  }

  protected override _stateAttributeValueSingleQuoted(cp: number): void {
    const state = this.state;
    super._stateAttributeValueSingleQuoted(cp);
    if (this.state === state && cp !== 0) this.extendRunOver(SINGLE_QUOTED);
  }

  protected override _stateAttributeValueUnquoted(cp: number): void {
    const state = this.state;
    super._stateAttributeValueUnquoted(cp);
    if (this.state === state && cp !== 0) this.extendRunOver(UNQUOTED);
  }

  protected override _stateComment(cp: number): void {
    const state = this.state;
    super._stateComment(cp);
    if (this.state === state && cp !== 0) this.extendRunOver(COMMENT);
  }
}

/** ASCII letters only, as the tokenizer lowercases names: a byte above 0x7F is not a letter here. */
function asciiLowercase(text: string): string {
  return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
