import { isIP } from 'node:net';
import type { Endpoint, Service, ServicePort } from '../registry/types.js';

/**
 * Registry -> Envoy v3 resources, as proto3 JSON (the same form Envoy reads from
 * files). Pure functions of their inputs; the ADS server encodes and caches them.
 *
 * Naming follows Istio so that dashboards and `istioctl`-style habits carry over:
 * clusters `outbound|<port>||<fqdn>`, listeners `virtualOutbound`/`virtualInbound`,
 * route configurations named by port, API listeners `<fqdn>:<port>` for proxyless gRPC.
 */

export type Json = Record<string, unknown>;

export interface TranslateOptions {
  /** DNS suffix, default cluster.local */
  clusterDomain: string;
}

export const DEFAULT_TRANSLATE_OPTIONS: TranslateOptions = { clusterDomain: 'cluster.local' };

export const OUTBOUND_LISTENER = 'virtualOutbound';
export const INBOUND_LISTENER = 'virtualInbound';
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15006;
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = `${T}envoy.extensions.filters.http.router.v3.Router`;
const TCP_PROXY = `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`;
const ORIGINAL_DST = `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`;
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const ADS = { ads: {}, resource_api_version: 'V3' };

export function serviceHost(s: Pick<Service, 'name' | 'namespace'>, o: TranslateOptions): string {
  return `${s.name}.${s.namespace}.svc.${o.clusterDomain}`;
}

export function outboundClusterName(port: number, host: string): string {
  return `outbound|${port}||${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export function isHttp(p: ServicePort): boolean {
  return p.protocol !== 'TCP';
}

/** Orders services by namespace, then name. */
export function byName<T extends { name: string; namespace: string }>(a: T, b: T): number {
  return a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace);
}

function sortedServices(services: readonly Service[]): Service[] {
  return [...services].sort(byName);
}

function routerFilter(): Json {
  return { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } };
}

function tcpProxy(statPrefix: string, cluster: string): Json {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: statPrefix, cluster } };
}

function originalDstFilter(): Json {
  return { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': ORIGINAL_DST } };
}

function cidr(address: string): Json {
  return { address_prefix: address, prefix_len: isIP(address) === 6 ? 128 : 32 };
}

// ---------------------------------------------------------------- clusters (CDS)

/** The EDS cluster of one service port. */
export function serviceCluster(s: Service, p: ServicePort, o: TranslateOptions): Json {
  const name = outboundClusterName(p.port, serviceHost(s, o));
  const c: Json = {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS, service_name: name },
    connect_timeout: '10s',
    lb_policy: 'ROUND_ROBIN',
  };
  if (p.protocol === 'GRPC' || p.protocol === 'HTTP2') {
    c['typed_extension_protocol_options'] = {
      [HTTP_OPTIONS]: { '@type': T + HTTP_OPTIONS, explicit_http_config: { http2_protocol_options: {} } },
    };
  }
  return c;
}

/** Clusters every sidecar gets besides the services: passthrough for unknown destinations, both ways. */
export function passthroughClusters(): Json[] {
  return [
    { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', connect_timeout: '10s', lb_policy: 'CLUSTER_PROVIDED' },
    {
      name: INBOUND_PASSTHROUGH_CLUSTER,
      type: 'ORIGINAL_DST',
      connect_timeout: '10s',
      lb_policy: 'CLUSTER_PROVIDED',
      // 127.0.0.6 is the source the capture rules let through without redirecting back to 15006
      upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } },
    },
  ];
}

/** Per-pod static clusters: inbound traffic for a declared app port goes to 127.0.0.1:<port>. */
export function inboundClusters(appPorts: readonly number[]): Json[] {
  return [...new Set(appPorts)]
    .sort((a, b) => a - b)
    .map((port) => ({
      name: inboundClusterName(port),
      type: 'STATIC',
      connect_timeout: '10s',
      load_assignment: {
        cluster_name: inboundClusterName(port),
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
      },
    }));
}

// ---------------------------------------------------------------- endpoints (EDS)

const REGION = 'topology.kubernetes.io/region';
const ZONE = 'topology.kubernetes.io/zone';

/** The ClusterLoadAssignment of one service port: one locality per (region, zone) label pair. */
export function loadAssignment(s: Service, p: ServicePort, o: TranslateOptions): Json {
  const groups = new Map<string, { region: string; zone: string; eps: Endpoint[] }>();
  const seen = new Set<string>();
  for (const e of p.endpoints) {
    const key = `${e.address}|${e.port}`;
    if (seen.has(key)) continue; // a duplicate address is an error for gRPC clients
    seen.add(key);
    const region = e.labels[REGION] ?? '';
    const zone = e.labels[ZONE] ?? '';
    const g = groups.get(`${region}/${zone}`) ?? { region, zone, eps: [] };
    g.eps.push(e);
    groups.set(`${region}/${zone}`, g);
  }
  const endpoints = [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, g]) => {
      const locality: Json = {};
      if (g.region) locality['region'] = g.region;
      if (g.zone) locality['zone'] = g.zone;
      return {
        locality,
        load_balancing_weight: g.eps.length,
        lb_endpoints: g.eps.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          load_balancing_weight: 1,
        })),
      };
    });
  return { cluster_name: outboundClusterName(p.port, serviceHost(s, o)), endpoints };
}

// ---------------------------------------------------------------- routes (RDS)

/** The names a client in `fromNamespace` may use for a service port, most specific first. */
export function serviceDomains(s: Service, p: ServicePort, fromNamespace: string, o: TranslateOptions): string[] {
  const names = [serviceHost(s, o), `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}`];
  if (s.namespace === fromNamespace) names.push(s.name);
  names.push(...s.addresses);
  return names.flatMap((n) => [n, `${isIP(n) === 6 ? `[${n}]` : n}:${p.port}`]);
}

function virtualHost(name: string, domains: string[], cluster: string, timeout?: string): Json {
  const route: Json = { cluster };
  if (timeout) route['timeout'] = timeout;
  return { name, domains, routes: [{ name: 'default', match: { prefix: '/' }, route }] };
}

/**
 * Sidecar route configurations, one per HTTP service port number, each with one
 * virtual host per service on that port and a catch-all to the passthrough cluster.
 * Short names depend on the proxy's namespace, hence the parameter.
 */
export function sidecarRouteConfigs(services: readonly Service[], fromNamespace: string, o: TranslateOptions): Json[] {
  const byPort = new Map<number, Json[]>();
  const claimed = new Map<number, Set<string>>();
  for (const s of sortedServices(services)) {
    for (const p of s.ports) {
      if (!isHttp(p)) continue;
      const taken = claimed.get(p.port) ?? new Set<string>();
      claimed.set(p.port, taken);
      // Envoy rejects a domain claimed by two virtual hosts; the first service (by namespace/name) keeps it.
      const domains = serviceDomains(s, p, fromNamespace, o).filter((d) => !taken.has(d));
      domains.forEach((d) => taken.add(d));
      const host = serviceHost(s, o);
      const list = byPort.get(p.port) ?? [];
      // timeout 0s: no route timeout, so long-lived gRPC streams are not cut at Envoy's 15 s default
      list.push(virtualHost(`${host}:${p.port}`, domains, outboundClusterName(p.port, host), '0s'));
      byPort.set(p.port, list);
    }
  }
  return [...byPort.entries()]
    .sort(([a], [b]) => a - b)
    .map(([port, vhosts]) => ({
      name: String(port),
      virtual_hosts: [...vhosts, virtualHost('allow_any', ['*'], PASSTHROUGH_CLUSTER, '0s')],
      validate_clusters: false,
    }));
}

/** The route configuration of one proxyless-gRPC API listener `<fqdn>:<port>`. */
export function apiRouteConfig(s: Service, p: ServicePort, o: TranslateOptions): Json {
  const host = serviceHost(s, o);
  const name = `${host}:${p.port}`;
  return { name, virtual_hosts: [virtualHost(name, [name, host], outboundClusterName(p.port, host))] };
}

// ---------------------------------------------------------------- listeners (LDS)

function hcm(statPrefix: string, routeConfigName: string): Json {
  return {
    '@type': HCM,
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    rds: { route_config_name: routeConfigName, config_source: ADS },
    http_filters: [routerFilter()],
  };
}

/** The API listener gRPC clients ask for when dialing `xds:///<fqdn>:<port>`. */
export function apiListener(s: Service, p: ServicePort, o: TranslateOptions): Json {
  const name = `${serviceHost(s, o)}:${p.port}`;
  return { name, api_listener: { api_listener: hcm(name, name) } };
}

/**
 * The outbound capture listener (15001): the original_dst listener filter restores
 * the destination, then one filter chain per HTTP port (HCM + RDS by port), one per
 * TCP service port (tcp_proxy, matched on port and the service's addresses), and
 * passthrough for anything else.
 */
export function outboundListener(services: readonly Service[], o: TranslateOptions): Json {
  const httpPorts = new Set<number>();
  const tcpChains: Json[] = [];
  const claimedIps = new Map<number, Set<string>>();
  for (const s of sortedServices(services)) {
    for (const p of s.ports) {
      if (isHttp(p)) {
        httpPorts.add(p.port);
        continue;
      }
      const taken = claimedIps.get(p.port) ?? new Set<string>();
      claimedIps.set(p.port, taken);
      // Without a VIP, a TCP service is recognised by its endpoints' addresses.
      const ips = [...new Set([...s.addresses, ...p.endpoints.map((e) => e.address)])].filter((ip) => !taken.has(ip)).sort();
      if (ips.length === 0) continue;
      ips.forEach((ip) => taken.add(ip));
      const cluster = outboundClusterName(p.port, serviceHost(s, o));
      tcpChains.push({
        name: cluster,
        filter_chain_match: { destination_port: p.port, prefix_ranges: ips.map(cidr) },
        filters: [tcpProxy(cluster, cluster)],
      });
    }
  }
  const httpChains = [...httpPorts]
    .sort((a, b) => a - b)
    .map((port) => ({
      name: `0.0.0.0_${port}`,
      filter_chain_match: { destination_port: port },
      filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(`outbound_0.0.0.0_${port}`, String(port)) }],
    }));
  return {
    name: OUTBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: OUTBOUND_PORT } },
    traffic_direction: 'OUTBOUND',
    listener_filters: [originalDstFilter()],
    filter_chains: [...httpChains, ...tcpChains],
    default_filter_chain: { name: PASSTHROUGH_CLUSTER, filters: [tcpProxy(PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER)] },
  };
}

/** The inbound capture listener (15006): declared app ports to 127.0.0.1, anything else passed through. */
export function inboundListener(appPorts: readonly number[]): Json {
  const ports = [...new Set(appPorts)].sort((a, b) => a - b);
  return {
    name: INBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: INBOUND_PORT } },
    traffic_direction: 'INBOUND',
    listener_filters: [originalDstFilter()],
    filter_chains: ports.map((port) => ({
      name: inboundClusterName(port),
      filter_chain_match: { destination_port: port },
      filters: [tcpProxy(inboundClusterName(port), inboundClusterName(port))],
    })),
    default_filter_chain: {
      name: INBOUND_PASSTHROUGH_CLUSTER,
      filters: [tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)],
    },
  };
}
