/**
 * Targeted pushes: which proxies' views a changed config object touches. A VirtualService or
 * ServiceEntry reaches the proxies that import one of its hosts; a DestinationRule the proxies that
 * import a service its host covers (and, with a workloadSelector, only those it selects); a Sidecar the
 * proxies of its namespace (all of them from the root namespace). Both the old and the new version of
 * the object count: a host removed from a VirtualService must reach the proxies that had it.
 */
import { isKind } from '../../config/kinds.js';
import type { ConfigObject } from '../../config/model.js';
import { hostMatches, resolveHost } from './hosts.js';
import type { MeshProxy } from './proxy.js';
import { labelsMatch } from './selectors.js';
import { imports, sidecarFor } from './sidecar-scope.js';
import type { MeshSnapshot } from './snapshot.js';
import { effectiveExportTo, isVisible } from './visibility.js';

export interface ConfigChange {
  before?: ConfigObject;
  after?: ConfigObject;
}

function touches(snapshot: MeshSnapshot, proxy: MeshProxy, obj: ConfigObject): boolean {
  const o = snapshot.options;
  const ns = obj.metadata.namespace || 'default';
  const scope = sidecarFor(snapshot, proxy)?.imports;
  if (isKind(obj, 'VirtualService')) {
    if (!isVisible(effectiveExportTo(obj.spec.exportTo, o.defaultVirtualServiceExportTo), ns, proxy.namespace)) return false;
    return (obj.spec.hosts ?? []).some((h) => imports(scope, proxy.namespace, ns, resolveHost(h, ns, o.clusterDomain), 'config'));
  }
  if (isKind(obj, 'ServiceEntry')) {
    if (!isVisible(effectiveExportTo(obj.spec.exportTo, o.defaultServiceExportTo), ns, proxy.namespace)) return false;
    return (obj.spec.hosts ?? []).some((h) => imports(scope, proxy.namespace, ns, resolveHost(h, ns, o.clusterDomain), 'config'));
  }
  if (isKind(obj, 'DestinationRule')) {
    if (!isVisible(effectiveExportTo(obj.spec.exportTo, o.defaultDestinationRuleExportTo), ns, proxy.namespace)) return false;
    const sel = obj.spec.workloadSelector?.matchLabels;
    if (sel && Object.keys(sel).length > 0 && (ns !== proxy.namespace || !labelsMatch(sel, proxy.labels))) return false;
    if (typeof obj.spec.host !== 'string') return false;
    const host = resolveHost(obj.spec.host, ns, o.clusterDomain);
    // A rule for a host no service has touches no view; the service's own change pushes it later.
    return snapshot.services.some((s) => hostMatches(host, s.hostname) && imports(scope, proxy.namespace, s.namespace, s.hostname, 'service'));
  }
  if (isKind(obj, 'Sidecar')) return ns === o.rootNamespace || ns === proxy.namespace;
  // Other kinds (Gateway, security, telemetry) are not read by the traffic view.
  return false;
}

/** The proxies (of those given) whose view the change touches, judged against the snapshot after it. */
export function dependsOn(snapshot: MeshSnapshot, change: ConfigChange, proxies: readonly MeshProxy[]): MeshProxy[] {
  const versions = [change.before, change.after].filter((c): c is ConfigObject => c !== undefined);
  return proxies.filter((p) => versions.some((v) => touches(snapshot, p, v)));
}
