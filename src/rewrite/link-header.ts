import { srcsetUrls } from './srcset.js';
import { applyEdits, type Edit, type UrlSpan } from './text-span.js';
import { type MarkingContext, urlMark } from './url-marker.js';

/** One link-value of a `Link` field (RFC 8288 §3): where it stands, its target and its parameters. */
export interface LinkValue {
  readonly start: number;
  readonly end: number;
  /** The URI-Reference between `<` and `>`. */
  readonly target: UrlSpan;
  readonly params: readonly LinkParam[];
}

export interface LinkParam {
  /** Lower-cased (parameter names are case-insensitive, RFC 8288 §3). */
  readonly name: string;
  /** The value as written, quotes excluded; `undefined` for a parameter without `=`. */
  readonly value?: UrlSpan;
  /** A quoted-string with a backslash escape: its text is not its value. */
  readonly escaped: boolean;
}

const OWS = /[ \t]/;
const isOws = (c: string | undefined) => c !== undefined && OWS.test(c);

/**
 * The link-values of a `Link` field value, as RFC 8288 §3 writes them (`<target>; name=value; name="quoted"`,
 * separated by commas). A link-value that does not follow the grammar is skipped up to the next comma outside
 * `<…>` and quoted strings, as browsers skip it; the others are found wherever they stand.
 */
export function linkValues(field: string): LinkValue[] {
  const values: LinkValue[] = [];
  const n = field.length;
  let i = 0;
  while (i < n) {
    while (i < n && (isOws(field[i]) || field[i] === ',')) i += 1;
    if (i >= n) break;
    const start = i;
    const parsed = field[i] === '<' ? linkValueAt(field, i) : undefined;
    if (parsed) {
      values.push({ start, ...parsed.value });
      i = parsed.end;
    } else {
      i = skipToComma(field, i);
    }
  }
  return values;
}

function linkValueAt(field: string, start: number): { value: Omit<LinkValue, 'start'>; end: number } | undefined {
  const close = field.indexOf('>', start + 1);
  if (close === -1) return undefined;
  const target = { start: start + 1, end: close };
  const params: LinkParam[] = [];
  const n = field.length;
  let i = close + 1;
  for (;;) {
    while (isOws(field[i])) i += 1;
    if (i >= n || field[i] === ',') return { value: { end: i, target, params }, end: i };
    if (field[i] !== ';') return undefined;
    i += 1;
    while (isOws(field[i])) i += 1;
    const nameStart = i;
    while (i < n && !/[=;,\s"]/.test(field[i]!)) i += 1;
    if (i === nameStart) {
      // `;` with no parameter after it (`<a>;`, `<a>; ;`): tolerated, as by browsers.
      continue;
    }
    const name = field.slice(nameStart, i).toLowerCase();
    while (isOws(field[i])) i += 1;
    if (field[i] !== '=') {
      params.push({ name, escaped: false });
      continue;
    }
    i += 1;
    while (isOws(field[i])) i += 1;
    if (field[i] === '"') {
      let escaped = false;
      let j = i + 1;
      while (j < n && field[j] !== '"') {
        if (field[j] === '\\') {
          escaped = true;
          j += 1;
        }
        j += 1;
      }
      if (j >= n) return undefined;
      params.push({ name, value: { start: i + 1, end: j }, escaped });
      i = j + 1;
    } else {
      const valueStart = i;
      while (i < n && !/[;,\s"]/.test(field[i]!)) i += 1;
      params.push({ name, value: { start: valueStart, end: i }, escaped: false });
    }
  }
}

/** The index of the comma that ends the link-value at `i` (or the end), outside `<…>` and quoted strings. */
function skipToComma(field: string, i: number): number {
  const n = field.length;
  while (i < n && field[i] !== ',') {
    if (field[i] === '<') {
      const close = field.indexOf('>', i + 1);
      i = close === -1 ? n : close + 1;
    } else if (field[i] === '"') {
      i += 1;
      while (i < n && field[i] !== '"') i += field[i] === '\\' ? 2 : 1;
      i += 1;
    } else {
      i += 1;
    }
  }
  return i;
}

/** A parameter's value as the link's reader takes it (the first of a repeated parameter, RFC 8288 §3.3). */
function paramText(field: string, link: LinkValue, name: string): string | undefined {
  const param = link.params.find((p) => p.name === name);
  if (!param?.value || param.escaped) return undefined;
  return field.slice(param.value.start, param.value.end);
}

/**
 * `rel=preload` (among its space-separated types, ASCII case-insensitive) with `as=image`: a link that makes the
 * browser fetch an image, as `<link rel=preload as=image>` does (HTML standard §4.6.7.6, "Link" headers processed
 * as such elements).
 */
export function preloadsImage(field: string, link: LinkValue): boolean {
  const rel = paramText(field, link, 'rel');
  const as = paramText(field, link, 'as');
  return rel !== undefined && as !== undefined && as.toLowerCase() === 'image' && rel.toLowerCase().split(/[ \t\n\f\r]+/).includes('preload');
}

/**
 * SPEC §3 for `Link` header fields: a preload of a same-site image gets the mark its `<link rel=preload as=image>`
 * would get — the target and the URLs of an `imagesrcset` parameter — so the browser does not fetch the image
 * twice (the preload unmarked, the `<img>` marked). Nothing else of the field changes. `base` is the URL of the
 * response the field came with (RFC 8288 §3.1: its targets resolve against it).
 */
export function markLinkField(field: string, base: URL, marking: MarkingContext): string {
  // Most fields name no image; a field without `image` cannot, and costs no parse.
  if (!/image/i.test(field)) return field;
  const edits: Edit[] = [];
  for (const link of linkValues(field)) {
    if (!preloadsImage(field, link)) continue;
    const mark = urlMark(field.slice(link.target.start, link.target.end), base, marking);
    if (mark) edits.push({ start: link.target.start + mark.at, end: link.target.start + mark.at, text: mark.separator + mark.parameter });
    const srcset = link.params.find((p) => p.name === 'imagesrcset');
    if (!srcset?.value || srcset.escaped) continue;
    const value = field.slice(srcset.value.start, srcset.value.end);
    for (const span of srcsetUrls(value)) {
      const candidate = urlMark(value.slice(span.start, span.end), base, marking);
      if (!candidate) continue;
      const at = srcset.value.start + span.start + candidate.at;
      edits.push({ start: at, end: at, text: candidate.separator + candidate.parameter });
    }
  }
  // The imagesrcset parameter may come before the target's other parameters but never before the target.
  edits.sort((a, b) => a.start - b.start);
  return applyEdits(field, edits);
}

/**
 * `markLinkField` on every `Link` field of a flat [name, value, …] list, in place. The base and marking are
 * asked for only when there is a field to mark (most responses have none: nothing is worked out for them).
 */
export function markLinkFields(headers: string[], context: () => { readonly base: URL; readonly marking: MarkingContext }): string[] {
  let known: { readonly base: URL; readonly marking: MarkingContext } | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length !== 4 || headers[i]!.toLowerCase() !== 'link' || !/image/i.test(headers[i + 1]!)) continue;
    known ??= context();
    headers[i + 1] = markLinkField(headers[i + 1]!, known.base, known.marking);
  }
  return headers;
}
