import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed image-option URLs (`<image-api key salt>`), as imgproxy signs its URLs: only pages that know the key can
 * ask for a transform, so a stranger cannot make the proxy work for every size, crop and quality they can write.
 *
 * The signed text is the request target (path and query, as the browser sends it) with every query part named
 * `slimproxy_sig` taken out and the other parts left as written, in their order: a page template signs exactly
 * the URL it is about to emit, then appends `?` (no query yet) or `&`, and `slimproxy_sig=` and the signature.
 * The signature is HMAC-SHA256 under the hex-decoded key of the hex-decoded salt followed by the signed text,
 * base64url without padding (43 characters). README "Image options on URLs" shows it in PHP and Python.
 */
export const SIGNATURE_PARAMETER = 'slimproxy_sig';

/** `Config.imageApi.signing`: key and salt, hex. */
export interface ImageSigning {
  readonly key: string;
  readonly salt: string;
}

/** Why a request's signature was not accepted, for its log line and its 403. */
export type SignatureCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The text a request target's signature covers, and the values of its signature parameters. */
function signedText(target: string): { readonly text: string; readonly signatures: readonly string[] } {
  const question = target.indexOf('?');
  if (question < 0) return { text: target, signatures: [] };
  const kept: string[] = [];
  const signatures: string[] = [];
  for (const part of target.slice(question + 1).split('&')) {
    const equals = part.indexOf('=');
    if ((equals < 0 ? part : part.slice(0, equals)) === SIGNATURE_PARAMETER) signatures.push(equals < 0 ? '' : part.slice(equals + 1));
    else kept.push(part);
  }
  return { text: kept.length > 0 ? `${target.slice(0, question)}?${kept.join('&')}` : target.slice(0, question), signatures };
}

function signature(text: string, signing: ImageSigning): string {
  return createHmac('sha256', Buffer.from(signing.key, 'hex')).update(Buffer.from(signing.salt, 'hex')).update(text).digest('base64url');
}

/**
 * Whether a request target (`/path?query`, as received) carries the one signature its text has. Compared as
 * text, not as decoded bytes: the last of 43 base64url characters has two bits no byte uses, and a URL with them
 * changed is not the one that was signed.
 */
export function verifyImageSignature(target: string, signing: ImageSigning): SignatureCheck {
  const { text, signatures } = signedText(target);
  if (signatures.length === 0) return { ok: false, reason: `${SIGNATURE_PARAMETER} missing` };
  if (signatures.length > 1) return { ok: false, reason: `${SIGNATURE_PARAMETER} given more than once` };
  const expected = Buffer.from(signature(text, signing));
  const given = Buffer.from(signatures[0]!);
  // The expected length is public (always 43): only the comparison of equal lengths must not leak where they differ.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: `${SIGNATURE_PARAMETER} does not match` };
  return { ok: true };
}

/** A scheme and authority, or only an authority (protocol-relative `//host/…`). */
const ABSOLUTE = /^(?:[a-z][a-z0-9+.-]*:)?\/\/[^/?#]*/i;

/**
 * A URL as a page writes it, in three: its scheme and host (none for a path), the request target a browser sends
 * for it (`https://host?q` asks for `/?q`), and its fragment (never sent).
 */
export function pageUrlParts(url: string): { readonly prefix: string; readonly target: string; readonly fragment: string } {
  const hash = url.indexOf('#');
  const fragment = hash < 0 ? '' : url.slice(hash);
  const whole = hash < 0 ? url : url.slice(0, hash);
  const prefix = ABSOLUTE.exec(whole)?.[0] ?? '';
  const rest = whole.slice(prefix.length);
  return { prefix, target: prefix !== '' && !rest.startsWith('/') ? `/${rest}` : rest, fragment };
}

/**
 * `url` with its signature (any it had replaced): an absolute URL (its scheme and host are not signed, only the
 * request target the browser will send) or a path from `/`, in the same form (`https://host?q` written out as
 * `https://host/?q`, the same URL). The URL is signed as written, so it must already be what the browser sends:
 * ASCII, percent-encoded.
 */
export function signImageUrl(url: string, signing: ImageSigning): string {
  const { prefix, target, fragment } = pageUrlParts(url);
  const { text } = signedText(target);
  return `${prefix}${text}${text.includes('?') ? '&' : '?'}${SIGNATURE_PARAMETER}=${signature(text, signing)}${fragment}`;
}
