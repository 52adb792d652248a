/**
 * One proxy's resources from one mesh snapshot: what a sidecar is sent (LDS/RDS/CDS/EDS) and what a
 * proxyless gRPC client is sent. Pure; the server encodes and caches the result.
 */
import { proxyView, type ProxyView } from '../../../model/proxy-view.js';
import type { MeshProxy } from '../../../model/proxy.js';
import { isHttpProtocol } from '../../../model/services.js';
import type { MeshSnapshot } from '../../../model/snapshot.js';
import { catchAllClusters, serviceClusters, type ClusterOptions } from './clusters.js';
import type { Json } from './envoy.js';
import { apiListener, outboundListener } from './listeners.js';
import { apiRouteConfiguration, sidecarRouteConfiguration } from './route-configs.js';
import type { TlsHooks } from './tls.js';

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

export function sidecarResources(snapshot: MeshSnapshot, view: ProxyView, hooks: TlsHooks = {}): ProxyResources {
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
  return { listeners, routes, ...clustersOf(view, { proxyless: true }) };
}

export function translateSidecar(snapshot: MeshSnapshot, proxy: MeshProxy, hooks: TlsHooks = {}): ProxyResources {
  return sidecarResources(snapshot, proxyView(snapshot, proxy), hooks);
}

export function translateProxyless(snapshot: MeshSnapshot, proxy: MeshProxy): ProxyResources {
  return proxylessResources(snapshot, proxyView(snapshot, proxy));
}
