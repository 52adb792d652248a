import { isIP } from 'node:net';
import { byName, type Service, type ServicePort } from '../../registry/types.js';
import {
  ADS,
  INBOUND_LISTENER,
  INBOUND_PASSTHROUGH_CLUSTER,
  INBOUND_PORT,
  inboundClusterName,
  isHttp,
  OUTBOUND_LISTENER,
  OUTBOUND_PORT,
  outboundClusterName,
  PASSTHROUGH_CLUSTER,
  serviceHost,
  TYPE_URL_PREFIX,
  type Json,
  type TranslateOptions,
} from './common.js';

/** Listeners (LDS), pure. */

const HCM = `${TYPE_URL_PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = `${TYPE_URL_PREFIX}envoy.extensions.filters.http.router.v3.Router`;
const TCP_PROXY = `${TYPE_URL_PREFIX}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`;
const ORIGINAL_DST = `${TYPE_URL_PREFIX}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`;

function tcpProxy(statPrefix: string, cluster: string): Json {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: statPrefix, cluster } };
}

function originalDstFilter(): Json {
  return { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': ORIGINAL_DST } };
}

function cidr(address: string): Json {
  return { address_prefix: address, prefix_len: isIP(address) === 6 ? 128 : 32 };
}

function hcm(statPrefix: string, routeConfigName: string): Json {
  return {
    '@type': HCM,
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    rds: { route_config_name: routeConfigName, config_source: ADS },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
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
  for (const s of [...services].sort(byName)) {
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
