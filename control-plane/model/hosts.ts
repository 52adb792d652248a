/**
 * Host names as Istio reads them: short names are relative to the namespace of the object that wrote
 * them (`reviews` in `shop` → `reviews.shop.svc.cluster.local`), `*.example.com` matches any name with
 * that suffix (but not `example.com`), and `*` matches everything.
 */

/** Resolves a host written in an object of `namespace` to the name the mesh indexes it by. */
export function resolveHost(host: string, namespace: string, clusterDomain: string): string {
  if (host === '*' || host.startsWith('*.')) return host;
  // Istio treats a name without dots as a short Kubernetes service name in the object's namespace.
  if (!host.includes('.')) return `${host}.${namespace}.svc.${clusterDomain}`;
  return host;
}

export function isWildcard(host: string): boolean {
  return host === '*' || host.startsWith('*.');
}

/** Does the pattern (exact or wildcard) cover the concrete-or-wildcard name? */
export function hostMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1); // ".example.com"
    if (name.startsWith('*.')) return name.slice(1).endsWith(suffix);
    return name.endsWith(suffix) && name.length > suffix.length;
  }
  return pattern === name;
}

/** Do two hosts (either may be a wildcard) name at least one common host? */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/**
 * Specificity order Istio uses when several wildcard entries match one host: an exact name beats any
 * wildcard, a longer wildcard suffix beats a shorter one.
 */
export function moreSpecific(a: string, b: string): number {
  const wa = isWildcard(a);
  const wb = isWildcard(b);
  if (wa !== wb) return wa ? 1 : -1;
  return b.length - a.length || a.localeCompare(b);
}
