import { DecodingMode, HtmlEntityDecoder } from 'entities/decode';
import { isAsciiWhitespace } from './ascii-whitespace.js';

/** Where an attribute's value stands in the source, from the tokenizer's span of the whole `name=value`. */
export interface ValueSource {
  readonly start: number;
  readonly end: number;
}


/** Finds the value inside `name = "value"` (raw text of one attribute); `undefined` for a bare `name`. */
export function valueSource(rawAttribute: string, offset: number): ValueSource | undefined {
  const equals = rawAttribute.indexOf('=');
  if (equals === -1) return undefined;
  let i = equals + 1;
  while (i < rawAttribute.length && isAsciiWhitespace(rawAttribute[i])) i += 1;
  const first = rawAttribute[i];
  if (first === '"' || first === "'") {
    const end = rawAttribute.endsWith(first) && rawAttribute.length - 1 > i ? rawAttribute.length - 1 : rawAttribute.length;
    return { start: offset + i + 1, end: offset + end };
  }
  return { start: offset + i, end: offset + rawAttribute.length };
}

/** An attribute value as the tokenizer reads it, and where each of its characters came from in the source. */
export interface DecodedValue {
  readonly value: string;
  /** For each character of `value`, its index in the raw text; one more entry: the raw text's length. */
  readonly offsets: readonly number[];
}

/**
 * Decodes a raw attribute value as the HTML tokenizer does (§13.2.5.38–.40 and the input stream's
 * preprocessing): character references with the attribute-value exception (a legacy reference without `;`
 * followed by `=` or an alphanumeric stays text: `?a=1&copy=2`, while `?a=1&copy` is `©`), CR and CRLF as LF,
 * NUL as U+FFFD. entities' decoder is the one parse5 uses, so both agree on every reference.
 */
export function decodeAttributeValue(raw: string): DecodedValue {
  let value = '';
  const offsets: number[] = [];
  let decoded = '';
  let consumedByReference = 0;
  const decoder = new HtmlEntityDecoder((codePoint, consumed) => {
    decoded += String.fromCodePoint(codePoint);
    consumedByReference = consumed;
  });
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === '&') {
      decoded = '';
      consumedByReference = 0;
      decoder.startEntity(DecodingMode.Attribute);
      const result = decoder.write(raw, i + 1);
      if (result < 0) decoder.end();
      if (consumedByReference > 0) {
        for (let k = 0; k < decoded.length; k += 1) offsets.push(i);
        value += decoded;
        i += consumedByReference;
        continue;
      }
    }
    offsets.push(i);
    if (c === '\r') {
      value += '\n';
      i += raw[i + 1] === '\n' ? 2 : 1;
    } else {
      value += c === '\0' ? '\uFFFD' : c;
      i += 1;
    }
  }
  offsets.push(raw.length);
  return { value, offsets };
}

/** Where one attribute of a start tag stands: its lower-cased name and its span (`name`, or `name=value`). */
export interface AttributeSpan {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Every attribute of a start tag, duplicates included (the tokenizer reports only the first of each name), read
 * with the HTML tokenizer's attribute states (§13.2.5.32–.39) from `from`, an offset inside the tag after its
 * name, to the tag's `>`. Only used for tags with duplicate attributes.
 */
export function attributeSpans(text: string, from: number, end: number): AttributeSpan[] {
  const spans: AttributeSpan[] = [];
  let i = from;
  const skipWhitespace = () => {
    while (i < end && isAsciiWhitespace(text[i])) i += 1;
  };
  while (i < end) {
    while (i < end && (isAsciiWhitespace(text[i]) || text[i] === '/')) i += 1;
    if (i >= end || text[i] === '>') break;
    const start = i;
    // The first character is part of the name even when it is `=` (§13.2.5.32).
    i += 1;
    while (i < end && !isAsciiWhitespace(text[i]) && text[i] !== '/' && text[i] !== '>' && text[i] !== '=') i += 1;
    const name = text.slice(start, i).toLowerCase();
    let attributeEnd = i;
    skipWhitespace();
    if (text[i] === '=') {
      i += 1;
      skipWhitespace();
      const quote = text[i];
      if (quote === '"' || quote === "'") {
        const close = text.indexOf(quote, i + 1);
        i = close === -1 || close >= end ? end : close + 1;
      } else {
        while (i < end && !isAsciiWhitespace(text[i]) && text[i] !== '>') i += 1;
      }
      attributeEnd = i;
    } else {
      i = attributeEnd;
    }
    spans.push({ name, start, end: attributeEnd });
  }
  return spans;
}
