import { randomBytes } from 'node:crypto';

/**
 * This process's entry in `Via` (RFC 9110 §7.6.3), a pseudonym of its own: a request that comes back carrying it
 * has been through this very process, which means the origin (or something behind it) points back at the proxy.
 * One such request looped 1,593 times until its X-Forwarded-For grew too long for the parser.
 */
const OWN = `1.1 slimproxy-${randomBytes(4).toString('hex')}`;

/** Whether a request's `Via` says it has been through this process already. */
export function loopsBack(via: string | string[] | undefined): boolean {
  if (via === undefined) return false;
  const values = Array.isArray(via) ? via : [via];
  return values.some((value) => value.split(',').some((entry) => entry.trim().split(/\s+/, 2).join(' ') === OWN));
}

/** `Via` with this process's entry added, for the request it sends on. */
export function withOwnVia(via: string | string[] | undefined): string {
  const before = Array.isArray(via) ? via.join(', ') : via;
  return before === undefined || before.trim() === '' ? OWN : `${before}, ${OWN}`;
}
