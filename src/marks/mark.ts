import { type Capabilities, CAPABILITY_ORDER } from '../client/index.js';

/**
 * SPEC §2: a marked URL is the URL as written plus one last query parameter `m=ic[,webp][,avif][,zorro]`.
 * These functions are the contract between the rewriters (which mark) and the image route (which decodes): pure,
 * on the URL text, so that every instance decodes every mark.
 */
export const MARK_PARAMETER = 'm';

const VALID_MARK = /^ic(,webp)?(,avif)?(,zorro)?$/;

/** The mark's value for a client, e.g. `ic,webp,avif`. */
export function markValue(capabilities: Capabilities): string {
  return ['ic', ...CAPABILITY_ORDER.filter((c) => capabilities[c])].join(',');
}

export function isMarkValue(value: string): boolean {
  return VALID_MARK.test(value);
}

export function capabilitiesOfMark(value: string): Capabilities | undefined {
  if (!isMarkValue(value)) return undefined;
  const tokens = value.split(',');
  return { webp: tokens.includes('webp'), avif: tokens.includes('avif'), zorro: tokens.includes('zorro') };
}

/** Where a mark goes in `url` and what to insert there: before the fragment, after any query. */
export interface MarkInsertion {
  readonly at: number;
  /** `separator` then `m=…`; the separator is `?` or `&` (the HTML rewriter may need to write `&` as `&amp;`). */
  readonly separator: '?' | '&';
  readonly parameter: string;
}

export function markInsertion(url: string, capabilities: Capabilities): MarkInsertion {
  const hash = url.indexOf('#');
  const end = hash === -1 ? url.length : hash;
  const hasQuery = url.lastIndexOf('?', end - 1) !== -1;
  return { at: end, separator: hasQuery ? '&' : '?', parameter: `${MARK_PARAMETER}=${markValue(capabilities)}` };
}

export function markUrl(url: string, capabilities: Capabilities): string {
  const insertion = markInsertion(url, capabilities);
  return url.slice(0, insertion.at) + insertion.separator + insertion.parameter + url.slice(insertion.at);
}

export interface DecodedMark {
  /** The URL as the page wrote it: what the origin receives. */
  readonly url: string;
  readonly mark: string;
  readonly capabilities: Capabilities;
}

interface QueryParameter {
  /** Index of the `?` or `&` before it. */
  readonly separatorAt: number;
  readonly end: number;
  readonly name: string;
  readonly value: string;
}

function queryParameters(url: string, queryStart: number, queryEnd: number): QueryParameter[] {
  const parameters: QueryParameter[] = [];
  let separatorAt = queryStart;
  while (separatorAt < queryEnd) {
    let end = url.indexOf('&', separatorAt + 1);
    if (end === -1 || end > queryEnd) end = queryEnd;
    const text = url.slice(separatorAt + 1, end);
    const equals = text.indexOf('=');
    parameters.push({
      separatorAt,
      end,
      name: equals === -1 ? text : text.slice(0, equals),
      value: equals === -1 ? '' : text.slice(equals + 1),
    });
    separatorAt = end;
  }
  return parameters;
}

/**
 * Removes exactly the last `m` parameter whose value is a valid mark (SPEC §2), or `undefined` if there is none.
 * A parameter that was the only one also takes its `?` with it, as `markUrl` added it.
 */
export function decodeMarkedUrl(url: string): DecodedMark | undefined {
  const hash = url.indexOf('#');
  const queryEnd = hash === -1 ? url.length : hash;
  const queryStart = url.indexOf('?');
  if (queryStart === -1 || queryStart > queryEnd) return undefined;
  const parameters = queryParameters(url, queryStart, queryEnd);
  for (let i = parameters.length - 1; i >= 0; i -= 1) {
    const parameter = parameters[i]!;
    if (parameter.name !== MARK_PARAMETER) continue;
    const capabilities = capabilitiesOfMark(parameter.value);
    if (!capabilities) continue;
    let original: string;
    if (i > 0) original = url.slice(0, parameter.separatorAt) + url.slice(parameter.end);
    else if (parameters.length > 1) original = url.slice(0, queryStart + 1) + url.slice(parameter.end + 1);
    else original = url.slice(0, queryStart) + url.slice(parameter.end);
    return { url: original, mark: parameter.value, capabilities };
  }
  return undefined;
}

export function isMarked(url: string): boolean {
  return decodeMarkedUrl(url) !== undefined;
}
