/**
 * RouteConfigurations. Sidecars get one per HTTP port number, named by the port, with one virtual host
 * per imported service on that port (its VirtualService's routes, or the default route), one per
 * VirtualService host that names no service, and the catch-all: `allow_any` to PassthroughCluster, or
 * `block_all` answering 502 under REGISTRY_ONLY (Istio's names and behaviour). Proxyless gRPC clients
 * get one per API listener `<fqdn>:<port>`, built from the same routes.
 */
import { isIP } from 'node:net';
import { virtualServiceFor } from '../../../model/proxy-view.js';
import { isHttpProtocol, type MeshService } from '../../../model/services.js';
import type { IndexedVirtualService } from '../../../model/snapshot.js';
import { outboundCluster, PASSTHROUGH_CLUSTER, type Json } from './envoy.js';
import { hashPolicy } from './hash.js';
import { httpRoutes, type RouteContext } from './http-routes.js';
import { proxylessRetryPolicy, retryPolicy } from './retry.js';
import { clusterPolicy } from './traffic-policy.js';

/** The names a client in `fromNamespace` may use for a service port, most specific first. */
export function serviceDomains(s: MeshService, port: number, fromNamespace: string, clusterDomain: string): string[] {
  const names = [s.hostname];
  const kube = `.${s.namespace}.svc.${clusterDomain}`;
  if (s.hostname.endsWith(kube)) {
    const short = s.hostname.slice(0, -kube.length);
    names.push(`${short}.${s.namespace}.svc`, `${short}.${s.namespace}`);
    if (s.namespace === fromNamespace) names.push(short);
  }
  names.push(...s.addresses);
  return names.flatMap((n) => [n, `${isIP(n) === 6 ? `[${n}]` : n}:${port}`]);
}

/**
 * The route a service gets without a VirtualService, as Istio builds it: all paths to its cluster, no
 * timeout, and the mesh's default retry policy (Istio passes "no consistent hash" here even when a
 * DestinationRule hashes, so the previous-hosts predicate stays).
 */
export function defaultRoute(ctx: RouteContext, s: MeshService): Json {
  const route: Json = { cluster: outboundCluster(ctx.port, undefined, s.hostname), timeout: '0s' };
  if (ctx.proxyless) route['max_stream_duration'] = { max_stream_duration: '0s' };
  const retry = retryPolicy(undefined, false);
  if (retry) route['retry_policy'] = ctx.proxyless ? proxylessRetryPolicy(retry) : retry;
  const hash = hashPolicy(clusterPolicy(ctx.view.destinationRules.get(s.hostname), ctx.port).loadBalancer?.consistentHash);
  if (hash) route['hash_policy'] = hash;
  return { name: 'default', match: { prefix: '/' }, route };
}

function routesFor(ctx: RouteContext, vs: IndexedVirtualService | undefined, s: MeshService | undefined): Json[] {
  const fromVs = vs ? httpRoutes(ctx, vs) : [];
  if (fromVs.length > 0 || !s) return fromVs;
  return [defaultRoute(ctx, s)];
}

function catchAll(ctx: RouteContext): Json {
  if (ctx.view.outboundTrafficPolicy === 'REGISTRY_ONLY') {
    return { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }] };
  }
  return { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: PASSTHROUGH_CLUSTER, timeout: '0s' } }] };
}

export function sidecarRouteConfiguration(ctx: RouteContext): Json {
  const { view, snapshot, port } = ctx;
  const claimed = new Set<string>();
  const claim = (domains: string[]): string[] => {
    // Envoy rejects a domain claimed by two virtual hosts; the first (services by host, then VS hosts) keeps it.
    const free = domains.filter((d) => !claimed.has(d));
    free.forEach((d) => claimed.add(d));
    return free;
  };
  const vhosts: Json[] = [];
  const serviceHosts = new Set<string>();
  for (const s of view.services) {
    if (!s.ports.some((p) => p.port === port && isHttpProtocol(p.protocol))) continue;
    serviceHosts.add(s.hostname);
    const domains = claim(serviceDomains(s, port, view.proxy.namespace, snapshot.options.clusterDomain));
    if (domains.length === 0) continue;
    vhosts.push({ name: `${s.hostname}:${port}`, domains, routes: routesFor(ctx, virtualServiceFor(view, s.hostname), s) });
  }
  for (const [host, vs] of view.virtualServiceByHost) {
    if (serviceHosts.has(host) || view.services.some((s) => s.hostname === host)) continue;
    const routes = routesFor(ctx, vs, undefined);
    if (routes.length === 0) continue;
    const domains = claim([host, `${host}:${port}`]);
    if (domains.length > 0) vhosts.push({ name: `${host}:${port}`, domains, routes });
  }
  // a VirtualService for host `*` takes the catch-all's place (its domain is taken)
  if (!claimed.has('*')) vhosts.push(catchAll(ctx));
  return { name: String(port), virtual_hosts: vhosts, validate_clusters: false };
}

/** The route configuration of one proxyless-gRPC API listener `<fqdn>:<port>`. */
export function apiRouteConfiguration(ctx: RouteContext, s: MeshService): Json {
  const name = `${s.hostname}:${ctx.port}`;
  return { name, virtual_hosts: [{ name, domains: [name, s.hostname], routes: routesFor(ctx, virtualServiceFor(ctx.view, s.hostname), s) }] };
}
