/**
 * Listeners. The sidecar's outbound capture listener (15001, `virtualOutbound`): one HTTP filter chain
 * per HTTP port (HCM with fault, CORS and router filters, RDS by port); TCP service ports matched on
 * port and destination addresses (a VirtualService's tcp routes: destinationSubnets, weighted
 * tcp_proxy); TLS service ports matched on port and SNI (tls routes: sniHosts); unknown destinations
 * to PassthroughCluster, or BlackHoleCluster under REGISTRY_ONLY. Proxyless gRPC clients get one API
 * listener `<fqdn>:<port>` per HTTP service port, with only the fault and router filters.
 * Access logs and tracing (telemetry-listener.ts) go on every HCM and tcp_proxy of `virtualOutbound`.
 */
import { isIP } from 'node:net';
import type { RouteDestination, TCPRoute, TLSRoute } from '../../../../config/kinds.js';
import { virtualServiceFor, type ProxyView } from '../../../model/proxy-view.js';
import { isHttpProtocol, isTlsProtocol, type MeshService, type MeshServicePort } from '../../../model/services.js';
import type { IndexedVirtualService, MeshSnapshot } from '../../../model/snapshot.js';
import { resolveDestination } from './destinations.js';
import {
  ADS,
  BLACKHOLE_CLUSTER,
  CORS_FILTER,
  CORS_FILTER_TYPE,
  FAULT_FILTER,
  FAULT_TYPE,
  HCM_TYPE,
  ORIGINAL_DST_TYPE,
  outboundCluster,
  PASSTHROUGH_CLUSTER,
  ROUTER_FILTER,
  ROUTER_TYPE,
  TCP_PROXY_TYPE,
  TLS_INSPECTOR_TYPE,
  type Json,
} from './envoy.js';
import { appliesTo } from './match.js';
import { listenerTelemetry, NO_TELEMETRY, type ListenerTelemetry } from './telemetry-listener.js';

export const OUTBOUND_LISTENER = 'virtualOutbound';
export const OUTBOUND_PORT = 15001;

export function httpFilters(proxyless: boolean): Json[] {
  const fault = { name: FAULT_FILTER, typed_config: { '@type': FAULT_TYPE } };
  const cors = { name: CORS_FILTER, typed_config: { '@type': CORS_FILTER_TYPE } };
  const router = { name: ROUTER_FILTER, typed_config: { '@type': ROUTER_TYPE } };
  // CORS must run before fault so that preflights are answered even when a fault aborts the route
  return proxyless ? [fault, router] : [cors, fault, router];
}

function hcm(statPrefix: string, routeConfigName: string, proxyless: boolean, telemetry: ListenerTelemetry = NO_TELEMETRY): Json {
  const cfg: Json = {
    '@type': HCM_TYPE,
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    rds: { route_config_name: routeConfigName, config_source: ADS },
    http_filters: httpFilters(proxyless),
  };
  if (telemetry.accessLog.length > 0) cfg['access_log'] = telemetry.accessLog;
  if (telemetry.tracing) cfg['tracing'] = telemetry.tracing;
  return cfg;
}

/** `10.0.0.0/16` or a bare address → envoy CidrRange */
export function cidrRange(s: string): Json {
  const [addr = '', len] = s.split('/');
  return { address_prefix: addr, prefix_len: len !== undefined ? Number(len) : isIP(addr) === 6 ? 128 : 32 };
}

function tcpProxy(statPrefix: string, target: L4Target, telemetry: ListenerTelemetry): Json {
  const cfg: Json = { '@type': TCP_PROXY_TYPE, stat_prefix: statPrefix };
  if ('cluster' in target) cfg['cluster'] = target.cluster;
  else cfg['weighted_clusters'] = { clusters: target.weighted };
  if (telemetry.accessLog.length > 0) cfg['access_log'] = telemetry.accessLog;
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: cfg };
}

interface ChainContext {
  snapshot: MeshSnapshot;
  view: ProxyView;
  taken: Set<string>;
  telemetry: ListenerTelemetry;
}

type L4Target = { cluster: string } | { weighted: { name: string; weight: number }[] };

/** Where a tcp or tls route sends traffic; undefined when it names no usable destination. */
function l4Target(ctx: ChainContext, vs: IndexedVirtualService, route: readonly RouteDestination[] | undefined, port: number): L4Target | undefined {
  const all = (route ?? []).filter((d) => typeof d.destination?.host === 'string');
  const used = all.length === 1 ? all : all.filter((d) => (d.weight ?? 0) > 0);
  const resolved = used.map((d) => ({ d, r: resolveDestination(ctx.snapshot, ctx.view, vs.namespace, d.destination, port) }));
  if (resolved.length === 0) return undefined;
  if (resolved.length === 1) return { cluster: resolved[0]!.r.cluster };
  return { weighted: resolved.map((x) => ({ name: x.r.cluster, weight: x.d.weight ?? 0 })) };
}

/**
 * Envoy rejects a listener where two filter chains match the same (port, address or SNI) — it expands
 * each chain's lists into single entries. The first chain (route order, then the service's own) keeps
 * an entry; later chains lose it, and a chain left with nothing is dropped.
 */
function pushChain(ctx: ChainContext, out: Json[], name: string, port: number, list: 'prefix_ranges' | 'server_names', entries: readonly string[], extra: Json, filter: Json): void {
  const free = [...new Set(entries)].filter((e) => !ctx.taken.has(`${port}|${list}|${e}`));
  if (free.length === 0) return;
  free.forEach((e) => ctx.taken.add(`${port}|${list}|${e}`));
  const match: Json = { destination_port: port };
  if (list === 'prefix_ranges') match['prefix_ranges'] = free.map(cidrRange);
  else match['server_names'] = free.sort();
  Object.assign(match, extra);
  out.push({ name, filter_chain_match: match, filters: [filter] });
}

function serviceIps(s: MeshService, p: MeshServicePort): string[] {
  // Without a VIP, a TCP service is recognised by its endpoints' addresses.
  return [...new Set([...s.addresses, ...p.endpoints.map((e) => e.address).filter((a) => isIP(a) !== 0)])].sort();
}

function tcpChains(ctx: ChainContext, s: MeshService, p: MeshServicePort, out: Json[]): void {
  const vs = virtualServiceFor(ctx.view, s.hostname);
  const ips = serviceIps(s, p);
  const routes: TCPRoute[] = vs?.config.spec.tcp ?? [];
  for (const r of routes) {
    const target = vs ? l4Target(ctx, vs, r.route, p.port) : undefined;
    if (!target) continue;
    const matches = r.match?.length ? r.match.filter((m) => appliesTo(m, ctx.view.proxy, p.port)) : [{}];
    for (const m of matches) {
      const ranges = m.destinationSubnets?.length ? m.destinationSubnets : ips;
      if (ranges.length === 0) continue;
      const name = outboundCluster(p.port, undefined, s.hostname);
      pushChain(ctx, out, name, p.port, 'prefix_ranges', ranges, {}, tcpProxy(name, target, ctx.telemetry));
    }
  }
  if (ips.length === 0) return;
  const cluster = outboundCluster(p.port, undefined, s.hostname);
  pushChain(ctx, out, cluster, p.port, 'prefix_ranges', ips, {}, tcpProxy(cluster, { cluster }, ctx.telemetry));
}

function tlsChains(ctx: ChainContext, s: MeshService, p: MeshServicePort, out: Json[]): void {
  const vs = virtualServiceFor(ctx.view, s.hostname);
  const routes: TLSRoute[] = vs?.config.spec.tls ?? [];
  for (const r of routes) {
    const target = vs ? l4Target(ctx, vs, r.route, p.port) : undefined;
    if (!target) continue;
    for (const m of (r.match ?? []).filter((x) => appliesTo(x, ctx.view.proxy, p.port))) {
      const extra: Json = { transport_protocol: 'tls' };
      if (m.destinationSubnets?.length) extra['prefix_ranges'] = m.destinationSubnets.map(cidrRange);
      const name = outboundCluster(p.port, undefined, s.hostname);
      pushChain(ctx, out, name, p.port, 'server_names', m.sniHosts ?? [], extra, tcpProxy(name, target, ctx.telemetry));
    }
  }
  // Without a tls route, TLS to the service's own name goes to the service.
  const cluster = outboundCluster(p.port, undefined, s.hostname);
  pushChain(ctx, out, cluster, p.port, 'server_names', [s.hostname], { transport_protocol: 'tls' }, tcpProxy(cluster, { cluster }, ctx.telemetry));
}

export function outboundListener(snapshot: MeshSnapshot, view: ProxyView): Json {
  const httpPorts = new Set<number>();
  const l4: Json[] = [];
  const ctx: ChainContext = { snapshot, view, taken: new Set(), telemetry: listenerTelemetry(snapshot, view.proxy, 'CLIENT') };
  let tls = false;
  for (const s of view.services) {
    for (const p of s.ports) {
      if (isHttpProtocol(p.protocol)) httpPorts.add(p.port);
      else if (isTlsProtocol(p.protocol)) {
        tls = true;
        tlsChains(ctx, s, p, l4);
      } else tcpChains(ctx, s, p, l4);
    }
  }
  const httpChains = [...httpPorts]
    .sort((a, b) => a - b)
    .map((port) => ({
      name: `0.0.0.0_${port}`,
      filter_chain_match: { destination_port: port },
      filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(`outbound_0.0.0.0_${port}`, String(port), false, ctx.telemetry) }],
    }));
  const fallback = view.outboundTrafficPolicy === 'REGISTRY_ONLY' ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
  const listenerFilters: Json[] = [{ name: 'envoy.filters.listener.original_dst', typed_config: { '@type': ORIGINAL_DST_TYPE } }];
  if (tls) listenerFilters.push({ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR_TYPE } });
  const listener: Json = {
    name: OUTBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: OUTBOUND_PORT } },
    traffic_direction: 'OUTBOUND',
    listener_filters: listenerFilters,
    filter_chains: [...httpChains, ...l4],
    default_filter_chain: { name: fallback, filters: [tcpProxy(fallback, { cluster: fallback }, ctx.telemetry)] },
  };
  if (ctx.telemetry.listenerAccessLog.length > 0) listener['access_log'] = ctx.telemetry.listenerAccessLog;
  return listener;
}

/** The API listener a gRPC client asks for when dialing `xds:///<fqdn>:<port>` (no access logs or tracing: grpc-js-xds ignores them). */
export function apiListener(s: MeshService, port: number): Json {
  const name = `${s.hostname}:${port}`;
  return { name, api_listener: { api_listener: hcm(name, name, true) } };
}
