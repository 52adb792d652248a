/**
 * Trust-domain aliases for principals, as Istio applies them (pilot/pkg/security/trustdomain): a
 * principal `<td>/ns/<ns>/sa/<sa>` whose trust domain is the mesh's, one of its aliases, or
 * `cluster.local` (which always means "the local trust domain") is expanded to the same identity in
 * the trust domain and in every alias; other principals (another trust domain, `*` as the trust
 * domain, not five segments) stay as written.
 */

function prefixMatch(a: string, pattern: string): boolean {
  return pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1));
}

function suffixMatch(a: string, pattern: string): boolean {
  return pattern.startsWith('*') && a.endsWith(pattern.slice(1));
}

/** Either side may carry the wildcard. */
function matchesAny(a: string, list: readonly string[]): boolean {
  return list.some((s) => a === s || s === '*' || prefixMatch(a, s) || prefixMatch(s, a) || suffixMatch(a, s) || suffixMatch(s, a));
}

export function withTrustDomainAliases(principals: readonly string[], trustDomains: readonly string[]): string[] {
  const out: string[] = [];
  for (const principal of principals) {
    const parts = principal.split('/');
    if (parts.length !== 5 || parts[0] === '*') {
      out.push(principal);
      continue;
    }
    const td = parts[0]!;
    if (!matchesAny(td, trustDomains) && td !== 'cluster.local') {
      out.push(principal);
      continue;
    }
    const expanded: string[] = [];
    for (const alias of trustDomains) {
      const p = suffixMatch(alias, td) ? principal : [alias, ...parts.slice(1)].join('/');
      if (!expanded.includes(p)) expanded.push(p);
    }
    out.push(...expanded);
  }
  return out;
}
