/**
 * What one proxy imports from the mesh: the services, the VirtualService governing each host, and the
 * DestinationRule of each service — the input of every per-proxy translation. A namespace-scoped
 * Sidecar shrinks it, and with it the bytes the proxy is sent.
 */
import { destinationRuleFor, type EffectiveDestinationRule } from './destination-rules.js';
import { hostMatches, hostsOverlap } from './hosts.js';
import type { OutboundTrafficMode } from './options.js';
import type { MeshProxy } from './proxy.js';
import type { MeshService } from './services.js';
import { imports, sidecarFor } from './sidecar-scope.js';
import type { IndexedSidecar, IndexedVirtualService, MeshSnapshot } from './snapshot.js';
import { isVisible } from './visibility.js';

export interface ProxyView {
  proxy: MeshProxy;
  sidecar?: IndexedSidecar;
  outboundTrafficPolicy: OutboundTrafficMode;
  /** imported services, one per host (the first declared wins), sorted by host */
  services: readonly MeshService[];
  /** imported VirtualServices, in the order the proxy applies them */
  virtualServices: readonly IndexedVirtualService[];
  /** host (as written in the VirtualService, resolved) → the VirtualService that governs it */
  virtualServiceByHost: ReadonlyMap<string, IndexedVirtualService>;
  /** service host → its effective DestinationRule */
  destinationRules: ReadonlyMap<string, EffectiveDestinationRule>;
  /** hosts claimed by an earlier VirtualService: `host` kept by `winner`, `loser` ignored for it */
  conflicts: readonly { host: string; winner: string; loser: string }[];
}

/**
 * The VirtualServices a proxy sees, in Istio's order: those of the proxy's own namespace first, then
 * the others, each group by creation time. For one host the first wins; Istio reports the others
 * (analysis message IST0109) and ignores them for that host — merging is for gateways only.
 */
function orderedVirtualServices(snapshot: MeshSnapshot, proxy: MeshProxy, sidecar: IndexedSidecar | undefined): IndexedVirtualService[] {
  const visible = snapshot.virtualServices.filter(
    (v) => isVisible(v.exportTo, v.namespace, proxy.namespace) && v.hosts.some((h) => imports(sidecar?.imports, proxy.namespace, v.namespace, h, 'config')),
  );
  const own = visible.filter((v) => v.namespace === proxy.namespace);
  const others = visible.filter((v) => v.namespace !== proxy.namespace);
  return [...own, ...others];
}

function servicesByDestination(snapshot: MeshSnapshot, host: string): readonly MeshService[] {
  return snapshot.servicesByHost.get(host) ?? snapshot.wildcardServices.filter((s) => hostMatches(s.hostname, host));
}

export function proxyView(snapshot: MeshSnapshot, proxy: MeshProxy): ProxyView {
  const sidecar = sidecarFor(snapshot, proxy);
  const chosen = new Map<string, MeshService>();
  const add = (s: MeshService): void => {
    if (!chosen.has(s.hostname) && isVisible(s.exportTo, s.namespace, proxy.namespace)) chosen.set(s.hostname, s);
  };
  for (const s of snapshot.services) if (imports(sidecar?.imports, proxy.namespace, s.namespace, s.hostname, 'service')) add(s);

  const virtualServices = orderedVirtualServices(snapshot, proxy, sidecar);
  const virtualServiceByHost = new Map<string, IndexedVirtualService>();
  const conflicts: { host: string; winner: string; loser: string }[] = [];
  for (const vs of virtualServices) {
    for (const h of vs.hosts) {
      const prior = virtualServiceByHost.get(h);
      if (prior) {
        if (prior !== vs) conflicts.push({ host: h, winner: prior.key, loser: vs.key });
        continue;
      }
      virtualServiceByHost.set(h, vs);
    }
    // Istio adds the destinations of imported VirtualServices even when the Sidecar did not import them.
    for (const d of destinationHosts(vs, snapshot.options.clusterDomain)) for (const s of servicesByDestination(snapshot, d)) add(s);
  }
  const used = new Set(virtualServiceByHost.values());
  const services = [...chosen.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
  const destinationRules = new Map<string, EffectiveDestinationRule>();
  for (const s of services) {
    const dr = destinationRuleFor(snapshot, proxy, s.hostname, s.namespace);
    if (dr) destinationRules.set(s.hostname, dr);
  }
  const view: ProxyView = {
    proxy,
    outboundTrafficPolicy: sidecar?.config.spec.outboundTrafficPolicy?.mode ?? snapshot.options.outboundTrafficPolicy,
    services,
    virtualServices: virtualServices.filter((v) => used.has(v)),
    virtualServiceByHost,
    destinationRules,
    conflicts,
  };
  if (sidecar) view.sidecar = sidecar;
  return view;
}

/** The hosts a VirtualService routes or mirrors to, resolved in its namespace. */
export function destinationHosts(vs: IndexedVirtualService, clusterDomain: string): string[] {
  const spec = vs.config.spec;
  const raw: (string | undefined)[] = [];
  for (const r of spec.http ?? []) {
    for (const d of r.route ?? []) raw.push(d.destination?.host);
    if (r.mirror) raw.push(r.mirror.host);
    for (const m of r.mirrors ?? []) raw.push(m.destination?.host);
  }
  for (const r of [...(spec.tcp ?? []), ...(spec.tls ?? [])]) for (const d of r.route ?? []) raw.push(d.destination?.host);
  return [...new Set(raw.filter((h): h is string => typeof h === 'string').map((h) => (h.includes('.') || h.startsWith('*') ? h : `${h}.${vs.namespace}.svc.${clusterDomain}`)))];
}

/** The VirtualService governing a service host for this proxy: an exact host first, else the most specific wildcard. */
export function virtualServiceFor(view: ProxyView, host: string): IndexedVirtualService | undefined {
  const exact = view.virtualServiceByHost.get(host);
  if (exact) return exact;
  let best: string | undefined;
  for (const h of view.virtualServiceByHost.keys()) {
    if (h !== host && hostsOverlap(h, host) && hostMatches(h, host) && (best === undefined || h.length > best.length)) best = h;
  }
  return best === undefined ? undefined : view.virtualServiceByHost.get(best);
}
