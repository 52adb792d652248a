/**
 * Targeted pushes: which proxies' views a changed config object touches, and which parts of their
 * resources it can change. A VirtualService or ServiceEntry reaches the proxies that import one of its
 * hosts; a DestinationRule the proxies that import a service its host covers (and, with a
 * workloadSelector, only those it selects); a Sidecar the proxies of its namespace (all of them from the
 * root namespace). Both the old and the new version of the object count: a host removed from a
 * VirtualService must reach the proxies that had it.
 *
 * The xDS cache carries a proxy's previous resources into the next generation unless a change touches
 * them (xds/cache/generation.ts), so these rules must over-approximate, never under: each one also looks
 * at the proxy's whole view (services a VirtualService's destinations pulled in past the Sidecar's
 * imports) in the snapshots before and after the change.
 */
import { isKind, type DestinationRuleSpec } from '../../config/kinds.js';
import type { ConfigObject } from '../../config/model.js';
import { memo } from '../memo.js';
import { hostMatches, hostsOverlap, resolveHost } from './hosts.js';
import { destinationHosts, proxyView, type ProxyView } from './proxy-view.js';
import type { MeshProxy } from './proxy.js';
import { labelsMatch } from './selectors.js';
import { imports, sidecarFor } from './sidecar-scope.js';
import type { MeshSnapshot } from './snapshot.js';
import { effectiveExportTo, isVisible } from './visibility.js';

export interface ConfigChange {
  before?: ConfigObject;
  after?: ConfigObject;
}

/** The parts of a proxy's translation (translate/istio ProxyResources' keys). */
export type ViewPart = 'listeners' | 'routes' | 'clusters' | 'endpoints';

export const ALL_PARTS: ReadonlySet<ViewPart> = new Set(['listeners', 'routes', 'clusters', 'endpoints']);
const NO_PARTS: ReadonlySet<ViewPart> = new Set();
const CLUSTER_PARTS: ReadonlySet<ViewPart> = new Set(['clusters', 'endpoints']);
const CLUSTER_AND_ROUTE_PARTS: ReadonlySet<ViewPart> = new Set(['clusters', 'endpoints', 'routes']);

function namespaceOf(obj: ConfigObject): string {
  return obj.metadata.namespace || 'default';
}

function proxyKey(proxy: MeshProxy): string {
  return JSON.stringify([proxy.namespace, Object.entries(proxy.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

const views = new WeakMap<MeshSnapshot, ReturnType<typeof memo<string, ProxyView>>>();

/** proxyView, memoised per snapshot and proxy (namespace and labels are all a view reads of the proxy). */
export function cachedProxyView(snapshot: MeshSnapshot, proxy: MeshProxy): ProxyView {
  let m = views.get(snapshot);
  if (!m) {
    m = memo<string, ProxyView>();
    views.set(snapshot, m);
  }
  const key = proxyKey(proxy);
  let v = m.get(key);
  if (!v) {
    v = proxyView(snapshot, { namespace: proxy.namespace, labels: proxy.labels });
    m.set(key, v);
  }
  return v;
}

/** Does the proxy's view hold a service under `host`, or route (or mirror) to one? */
function viewReaches(view: ProxyView, host: string, clusterDomain: string): boolean {
  if (view.services.some((s) => hostMatches(host, s.hostname) || hostMatches(s.hostname, host))) return true;
  return view.virtualServices.some((vs) => destinationHosts(vs, clusterDomain).some((d) => hostsOverlap(d, host)));
}

function touches(snapshot: MeshSnapshot, proxy: MeshProxy, obj: ConfigObject): boolean {
  const o = snapshot.options;
  const ns = namespaceOf(obj);
  const scope = sidecarFor(snapshot, proxy)?.imports;
  if (isKind(obj, 'VirtualService')) {
    if (!isVisible(effectiveExportTo(obj.spec.exportTo, o.defaultVirtualServiceExportTo), ns, proxy.namespace)) return false;
    return (obj.spec.hosts ?? []).some((h) => imports(scope, proxy.namespace, ns, resolveHost(h, ns, o.clusterDomain), 'config'));
  }
  if (isKind(obj, 'ServiceEntry')) {
    // workload entries can sit at a proxy's own address, where they decide its inbound ports' protocols
    if ((obj.spec.endpoints ?? []).length > 0 || obj.spec.workloadSelector !== undefined) return true;
    if (!isVisible(effectiveExportTo(obj.spec.exportTo, o.defaultServiceExportTo), ns, proxy.namespace)) return false;
    const hosts = (obj.spec.hosts ?? []).map((h) => resolveHost(h, ns, o.clusterDomain));
    if (hosts.some((h) => imports(scope, proxy.namespace, ns, h, 'config'))) return true;
    // a destination of an imported VirtualService is in the view whatever the Sidecar imports
    const view = cachedProxyView(snapshot, proxy);
    return hosts.some((h) => viewReaches(view, h, o.clusterDomain));
  }
  if (isKind(obj, 'DestinationRule')) {
    if (!isVisible(effectiveExportTo(obj.spec.exportTo, o.defaultDestinationRuleExportTo), ns, proxy.namespace)) return false;
    const sel = obj.spec.workloadSelector?.matchLabels;
    if (sel && Object.keys(sel).length > 0 && (ns !== proxy.namespace || !labelsMatch(sel, proxy.labels))) return false;
    if (typeof obj.spec.host !== 'string') return false;
    const host = resolveHost(obj.spec.host, ns, o.clusterDomain);
    // A rule for a host no service has touches no view; the service's own change pushes it later.
    if (snapshot.services.some((s) => hostMatches(host, s.hostname) && imports(scope, proxy.namespace, s.namespace, s.hostname, 'service'))) return true;
    return viewReaches(cachedProxyView(snapshot, proxy), host, o.clusterDomain);
  }
  if (isKind(obj, 'Sidecar')) return ns === o.rootNamespace || ns === proxy.namespace;
  // Telemetry and the workload-facing security kinds apply to the workloads of their namespace (all of
  // them from the root namespace); their selectors could narrow this, over-approximating is safe.
  if (isKind(obj, 'Telemetry') || isKind(obj, 'AuthorizationPolicy') || isKind(obj, 'RequestAuthentication')) return ns === o.rootNamespace || ns === proxy.namespace;
  // PeerAuthentication sets a server's inbound mode and, through auto mTLS, what its clients send: it
  // can reach any proxy.
  if (isKind(obj, 'PeerAuthentication')) return true;
  // Gateway is not translated for sidecars or proxyless clients.
  return false;
}

/** The proxies (of those given) whose view the change touches, judged against the snapshot after it. */
export function dependsOn(snapshot: MeshSnapshot, change: ConfigChange, proxies: readonly MeshProxy[]): MeshProxy[] {
  const versions = [change.before, change.after].filter((c): c is ConfigObject => c !== undefined);
  return proxies.filter((p) => versions.some((v) => touches(snapshot, p, v)));
}

/** Whether a DestinationRule spec sets a consistent hash anywhere (rule, port, subset, subset port): route configurations read only that. */
function setsConsistentHash(spec: DestinationRuleSpec): boolean {
  const policies = [spec.trafficPolicy, ...(spec.subsets ?? []).map((s) => s.trafficPolicy)];
  return policies.some((p) => p?.loadBalancer?.consistentHash !== undefined || (p?.portLevelSettings ?? []).some((s) => s.loadBalancer?.consistentHash !== undefined));
}

/**
 * Can a DestinationRule change alter a route configuration? Routes read a rule only for its consistent
 * hash (hash policies, and retries without previous-host predicates); which rule is in force for a host
 * depends on the others for overlapping hosts (precedence, merging), so when no rule for an overlapping
 * host sets a hash, before or after, no route can change.
 */
function destinationRuleReachesRoutes(before: MeshSnapshot, after: MeshSnapshot, versions: readonly ConfigObject[]): boolean {
  if (versions.some((v) => isKind(v, 'DestinationRule') && setsConsistentHash(v.spec))) return true;
  const hosts = versions.flatMap((v) => (isKind(v, 'DestinationRule') && typeof v.spec.host === 'string' ? [resolveHost(v.spec.host, namespaceOf(v), after.options.clusterDomain)] : []));
  return [before, after].some((s) => s.destinationRules.some((r) => hosts.some((h) => hostsOverlap(h, r.host)) && setsConsistentHash(r.config.spec)));
}

/**
 * What a batch of changes does to proxies: for each proxy, the parts of its resources the changes can
 * alter, judged against the snapshots before and after them (the empty set: the proxy's previous
 * resources stay exactly right). A DestinationRule alters clusters and endpoints, and routes only when
 * a consistent hash is involved; every other traffic kind may alter all four.
 */
export function changeImpact(snapshots: { before: MeshSnapshot; after: MeshSnapshot }, changes: readonly ConfigChange[]): (proxy: MeshProxy) => ReadonlySet<ViewPart> {
  const judged = changes.map((change) => {
    const versions = [change.before, change.after].filter((c): c is ConfigObject => c !== undefined);
    let parts: ReadonlySet<ViewPart> = ALL_PARTS;
    if (versions.every((v) => isKind(v, 'DestinationRule'))) parts = destinationRuleReachesRoutes(snapshots.before, snapshots.after, versions) ? CLUSTER_AND_ROUTE_PARTS : CLUSTER_PARTS;
    return { versions, parts };
  });
  return (proxy) => {
    const out = new Set<ViewPart>();
    for (const { versions, parts } of judged) {
      if (out.size === ALL_PARTS.size) break;
      if ([...parts].every((p) => out.has(p))) continue;
      if (versions.some((v) => touches(snapshots.before, proxy, v) || touches(snapshots.after, proxy, v))) for (const p of parts) out.add(p);
    }
    return out.size === 0 ? NO_PARTS : out;
  };
}
