/**
 * Envoy matcher JSON for AuthorizationPolicy values, with Istio's wildcard rules: a value is exact,
 * `prefix*`, `*suffix`, or `*` (present / any non-empty). Envoy refuses an empty prefix or suffix,
 * which is why `*` is tested first everywhere.
 */
import { isIP } from 'node:net';
import type { Json } from '../envoy.js';

/** RE2 and JavaScript agree on these escapes (Go's regexp.QuoteMeta set). */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

export function regexMatcher(regex: string): Json {
  return { safe_regex: { regex } };
}

/**
 * A value with Istio's wildcards, `prefix` (e.g. `spiffe://`) put in front of what is compared. A
 * suffix wildcard with a prefix cannot be one Envoy prefix or suffix match, so it is a regex.
 */
export function stringMatcher(value: string, prefix = ''): Json {
  if (value === '*') return regexMatcher('.+');
  if (value.startsWith('*')) {
    const rest = value.slice(1);
    return prefix === '' ? { suffix: rest } : regexMatcher(`${prefix}.*${quoteMeta(rest)}`);
  }
  if (value.endsWith('*')) return { prefix: prefix + value.slice(0, -1) };
  return { exact: prefix + value };
}

function wildcard(value: string, ignoreCase: boolean): Json {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (value.startsWith('*')) return { suffix: value.slice(1), ...ic };
  if (value.endsWith('*')) return { prefix: value.slice(0, -1), ...ic };
  return { exact: value, ...ic };
}

/** A header (`:method`, `request.headers[x]`) compared with a value: `*` means the header is present. */
export function headerMatcher(name: string, value: string): Json {
  return value === '*' ? { name, present_match: true } : { name, string_match: wildcard(value, false) };
}

/** `:authority` compared with a host: as a header, but case-insensitive (host names are). */
export function hostMatcher(name: string, value: string): Json {
  return value === '*' ? { name, present_match: true } : { name, string_match: wildcard(value, true) };
}

/** An address or CIDR as Envoy's CidrRange; a bare address is a /32 or /128. Undefined when unreadable. */
export function cidrRange(value: string): Json | undefined {
  const slash = value.indexOf('/');
  const addr = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address_prefix: addr, prefix_len: max };
  const lenText = value.slice(slash + 1);
  const len = Number(lenText);
  if (!/^[0-9]+$/.test(lenText) || len > max) return undefined;
  return { address_prefix: addr, prefix_len: len };
}

/**
 * Several value matchers as one (Envoy's ValueMatcher `or_match`); one stays itself, as Istio writes it.
 */
export function orValueMatcher(matchers: readonly Json[]): Json {
  return matchers.length === 1 ? matchers[0]! : { or_match: { value_matchers: matchers } };
}
