import { decodeHTML } from 'entities';

/** Where an attribute's value stands in the source, from the tokenizer's span of the whole `name=value`. */
export interface ValueSource {
  readonly start: number;
  readonly end: number;
  readonly quote: '"' | "'" | '';
}

/** Finds the value inside `name = "value"` (raw text of one attribute); `undefined` for a bare `name`. */
export function valueSource(rawAttribute: string, offset: number): ValueSource | undefined {
  const equals = rawAttribute.indexOf('=');
  if (equals === -1) return undefined;
  let i = equals + 1;
  while (i < rawAttribute.length && /[\t\n\f\r ]/.test(rawAttribute[i]!)) i += 1;
  const first = rawAttribute[i];
  if (first === '"' || first === "'") {
    const close = rawAttribute.lastIndexOf(first);
    const end = close > i ? close : rawAttribute.length;
    return { start: offset + i + 1, end: offset + end, quote: first };
  }
  return { start: offset + i, end: offset + rawAttribute.length, quote: '' };
}

const CHARACTER_REFERENCE = /^&(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)/;

/**
 * For each position in the decoded value, its position in the raw value (one more entry: the end). The values
 * differ by character references and CR/CRLF (normalised to LF by the input stream). Only references closed
 * by `;` are aligned; anything else gives `undefined` and the attribute is left as it is.
 */
export function decodedToRaw(raw: string, decoded: string): number[] | undefined {
  const map: number[] = new Array<number>(decoded.length + 1);
  let i = 0;
  let j = 0;
  while (j < decoded.length) {
    if (i >= raw.length) return undefined;
    const c = raw[i]!;
    if (c === '&') {
      const reference = CHARACTER_REFERENCE.exec(raw.slice(i, i + 40))?.[0];
      if (reference === undefined) {
        if (decoded[j] !== '&') return undefined;
        map[j] = i;
        i += 1;
        j += 1;
        continue;
      }
      const text = decodeHTML(reference);
      if (text === reference || !decoded.startsWith(text, j)) return undefined;
      for (let k = 0; k < text.length; k += 1) map[j + k] = i;
      i += reference.length;
      j += text.length;
    } else if (c === '\r') {
      if (decoded[j] !== '\n') return undefined;
      map[j] = i;
      i += raw[i + 1] === '\n' ? 2 : 1;
      j += 1;
    } else {
      if (decoded[j] !== c) return undefined;
      map[j] = i;
      i += 1;
      j += 1;
    }
  }
  if (i !== raw.length) return undefined;
  map[decoded.length] = raw.length;
  return map;
}
