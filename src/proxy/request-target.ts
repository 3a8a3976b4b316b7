/**
 * What path to ask the origin for, from the request target a client sent (RFC 9112 §3.2). The connection always
 * goes to the configured origin; this only decides the path, so that no request target can name another host.
 */
export type OriginPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

export function originPath(target: string): OriginPath {
  // origin-form: forwarded as written. `..`, `//` and percent-escapes are the origin's to interpret, exactly as
  // if the client had asked it directly; the host we connect to does not depend on them.
  if (target.startsWith('/')) return { ok: true, path: target };
  // absolute-form (RFC 9112 §3.2.2): a server must accept it; its authority is not ours to follow, only the
  // path and query are kept.
  const absolute = ABSOLUTE_FORM.exec(target);
  if (absolute) {
    const rest = target.slice(absolute[0].length).replace(/#.*$/s, '');
    if (rest === '') return { ok: true, path: '/' };
    return { ok: true, path: rest.startsWith('/') ? rest : `/${rest}` };
  }
  if (target === '*') return { ok: false, reason: 'asterisk-form request target' };
  return { ok: false, reason: 'request target is not a path' };
}

/**
 * Whether a path climbs up with a `..` segment, in any spelling a server may decode into one (`%2e%2e`, `..%2f`,
 * `..\`, `..;/`): under an origin URL with a path (`<origin url="http://host/site/">`) the origin resolves it above the
 * prefix (nginx answered `/../admin/secret.txt` from `/admin/`). Browsers remove such segments before they send a
 * URL, so a request that still has one is refused rather than resolved.
 */
export function climbsUp(path: string): boolean {
  const end = path.search(/[?#]/);
  const decoded = (end === -1 ? path : path.slice(0, end)).replace(/%2e/gi, '.').replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  // A segment's parameters (`..;x=1`, RFC 3986 §3.3) are no part of its name to Tomcat and Spring: `/..;/` climbs.
  return decoded.split(/[/\\]/).some((segment) => segment.split(';')[0] === '..');
}
