/**
 * Which Sidecar governs a proxy, and what it imports. Istio's order: a Sidecar in the proxy's namespace
 * whose workloadSelector matches (oldest first), else the proxy namespace's Sidecar without selector,
 * else the root namespace's Sidecar without selector, else none (import everything visible).
 */
import { hostMatches, hostsOverlap } from './hosts.js';
import type { MeshProxy } from './proxy.js';
import { labelsMatch } from './selectors.js';
import type { EgressImport, IndexedSidecar, MeshSnapshot } from './snapshot.js';

export function sidecarFor(snapshot: MeshSnapshot, proxy: MeshProxy): IndexedSidecar | undefined {
  const own = snapshot.sidecars.filter((s) => s.namespace === proxy.namespace);
  return (
    own.find((s) => s.selector !== undefined && labelsMatch(s.selector, proxy.labels)) ??
    own.find((s) => s.selector === undefined) ??
    snapshot.sidecars.find((s) => s.namespace === snapshot.options.rootNamespace && s.selector === undefined)
  );
}

/**
 * Does the import set take a name from a namespace? `mode` decides how the host part is compared: a
 * service's host must fall under the pattern, a VirtualService's host need only overlap it.
 */
export function imports(set: readonly EgressImport[] | undefined, proxyNamespace: string, namespace: string, host: string, mode: 'service' | 'config'): boolean {
  if (!set) return true;
  for (const i of set) {
    if (i.namespace === '~') continue;
    const ns = i.namespace === '.' ? proxyNamespace : i.namespace;
    if (ns !== '*' && ns !== namespace) continue;
    if (mode === 'service' ? hostMatches(i.host, host) : hostsOverlap(i.host, host)) return true;
  }
  return false;
}
