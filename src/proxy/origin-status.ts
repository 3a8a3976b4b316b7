import { STATUS_CODES } from 'node:http';

/**
 * Whether a status from the origin is one Node's server can write (100–999). Node's client parser takes any three
 * digits (`099`, `000`), its server throws on them; outside the range the origin broke HTTP: a 502, as nginx answers.
 */
export function isWritableStatus(code: number | undefined): code is number {
  return code !== undefined && Number.isInteger(code) && code >= 100 && code <= 999;
}

/** What Node's server refuses in a reason phrase (RFC 9112 §4 allows HTAB, SP, VCHAR and obs-text). */
const NOT_IN_A_REASON = /[^\t\x20-\x7e\x80-\xff]/;

/** The origin's reason phrase when it can be written as it is, else the standard one for the status. */
export function writableReason(code: number, reason: string | undefined): string {
  return reason !== undefined && !NOT_IN_A_REASON.test(reason) ? reason : (STATUS_CODES[code] ?? '');
}

/** The error for a status no response may carry (classified as the origin's protocol failure). */
export function unwritableStatusError(code: number | undefined): Error {
  return Object.assign(new Error(`the origin answered with status ${code ?? '(none)'}`), { code: 'HPE_INVALID_STATUS' });
}
