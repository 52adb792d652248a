/**
 * One proxy's resources from one mesh snapshot: what a sidecar is sent (LDS/RDS/CDS/EDS) and what a
 * proxyless gRPC client is sent. Pure; the server encodes and caches the result.
 */
import { indexPeerAuthentications, namespaceMtls, workloadMtls, type PeerAuthenticationIndex } from '../../../model/peer-authentication.js';
import { proxyView, type ProxyView } from '../../../model/proxy-view.js';
import type { MeshProxy } from '../../../model/proxy.js';
import { isHttpProtocol } from '../../../model/services.js';
import type { MeshSnapshot } from '../../../model/snapshot.js';
import { catchAllClusters, serviceClusters, type ClusterOptions } from './clusters.js';
import type { Json } from './envoy.js';
import { apiListener, outboundListener } from './listeners.js';
import { apiRouteConfiguration, sidecarRouteConfiguration } from './route-configs.js';
import { proxylessServerListeners, sidecarInboundListener, type InboundFilters, type InboundProxy } from './inbound.js';
import { authorizationFilters } from './authz/index.js';
import { istioMutualSidecar, type TlsHooks } from './tls.js';

export interface ProxyResources {
  listeners: Json[];
  routes: Json[];
  clusters: Json[];
  endpoints: Json[];
}

function clustersOf(view: ProxyView, o: ClusterOptions): { clusters: Json[]; endpoints: Json[] } {
  const clusters: Json[] = [];
  const endpoints: Json[] = [];
  for (const s of view.services) {
    for (const c of serviceClusters(view, s, o)) {
      clusters.push(c.cluster);
      if (c.endpoints) endpoints.push(c.endpoints);
    }
  }
  return { clusters, endpoints };
}

// one index per snapshot: every proxy of a generation reads the same PeerAuthentications
const peerAuthentications = new WeakMap<MeshSnapshot, PeerAuthenticationIndex>();

export function peerAuthenticationsOf(snapshot: MeshSnapshot): PeerAuthenticationIndex {
  let index = peerAuthentications.get(snapshot);
  if (!index) {
    index = indexPeerAuthentications(snapshot.configs.values());
    peerAuthentications.set(snapshot, index);
  }
  return index;
}

/** The mesh's TLS hooks: ISTIO_MUTUAL with the mesh certificates, auto mTLS as MeshConfig says. */
export function meshTlsHooks(snapshot: MeshSnapshot): TlsHooks {
  const index = peerAuthenticationsOf(snapshot);
  const o = snapshot.options;
  return {
    istioMutual: istioMutualSidecar,
    mtls: { trustDomain: o.trustDomain, autoMtls: o.enableAutoMtls, namespaceMode: (ns) => namespaceMtls(index, o.rootNamespace, ns) },
  };
}

/**
 * A workload's inbound listeners under its PeerAuthentication: a sidecar's `virtualInbound`, a
 * proxyless server's `xds.istio.io/grpc/lds/inbound/<ip>:<port>` listeners.
 */
export function translateInbound(snapshot: MeshSnapshot, proxy: InboundProxy & { proxyless: boolean }, inboundFilters: InboundFilters = meshAuthorization(snapshot, proxy)): Json[] {
  const mtls = workloadMtls(peerAuthenticationsOf(snapshot), snapshot.options.rootNamespace, proxy);
  return proxy.proxyless ? proxylessServerListeners(snapshot, proxy, mtls, inboundFilters) : [sidecarInboundListener(snapshot, proxy, mtls, inboundFilters)];
}

export function sidecarResources(snapshot: MeshSnapshot, view: ProxyView, hooks: TlsHooks = meshTlsHooks(snapshot)): ProxyResources {
  const ports = new Set<number>();
  for (const s of view.services) for (const p of s.ports) if (isHttpProtocol(p.protocol)) ports.add(p.port);
  const routes = [...ports].sort((a, b) => a - b).map((port) => sidecarRouteConfiguration({ snapshot, view, port, proxyless: false }));
  const { clusters, endpoints } = clustersOf(view, hooks);
  return { listeners: [outboundListener(snapshot, view)], routes, clusters: [...clusters, ...catchAllClusters()], endpoints };
}

export function proxylessResources(snapshot: MeshSnapshot, view: ProxyView): ProxyResources {
  const listeners: Json[] = [];
  const routes: Json[] = [];
  for (const s of view.services) {
    for (const p of s.ports) {
      if (!isHttpProtocol(p.protocol)) continue;
      listeners.push(apiListener(s, p.port));
      routes.push(apiRouteConfiguration({ snapshot, view, port: p.port, proxyless: true }, s));
    }
  }
  return { listeners, routes, ...clustersOf(view, { ...meshTlsHooks(snapshot), proxyless: true }) };
}

export function translateSidecar(snapshot: MeshSnapshot, proxy: MeshProxy, hooks: TlsHooks = meshTlsHooks(snapshot)): ProxyResources {
  return sidecarResources(snapshot, proxyView(snapshot, proxy), hooks);
}

export function translateProxyless(snapshot: MeshSnapshot, proxy: MeshProxy): ProxyResources {
  return proxylessResources(snapshot, proxyView(snapshot, proxy));
}

/** The workload's AuthorizationPolicies as the RBAC filters of each inbound chain (authz/). */
export function meshAuthorization(snapshot: MeshSnapshot, workload: Pick<InboundProxy, 'namespace' | 'labels'>): InboundFilters {
  return (chain) => authorizationFilters(snapshot, workload, { protocol: chain.http ? 'http' : 'tcp', proxyless: chain.proxyless, port: chain.port ?? 0 });
}
