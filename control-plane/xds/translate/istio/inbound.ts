/**
 * Inbound listeners with the mutual TLS a workload's PeerAuthentication asks for (pure).
 *
 * Sidecars: `virtualInbound` (15006) with the TLS inspector; per app port, chains by mode as Istio
 * builds them — STRICT: mTLS only (any TLS, a client certificate from the mesh root required);
 * PERMISSIVE: mTLS for clients offering Istio's ALPNs, plain text otherwise (and, on TCP ports, TLS
 * that is not Istio's passed through); DISABLE: plain text only. Ports that are not app ports pass
 * through to InboundPassthroughCluster under the workload-wide mode. There is no default filter chain:
 * a connection no chain accepts (plain text to a STRICT port) is closed.
 *
 * Proxyless gRPC servers: a listener per `xds.istio.io/grpc/lds/inbound/<ip>:<port>` (the name
 * grpc-js-xds derives from the address it binds; its address must be that address), one filter chain
 * without a match (gRPC cannot tell plain text from TLS on one port), an HTTP connection manager with
 * an inline route configuration whose one route is `non_forwarding_action`, the router last, no
 * listener filters (grpc-js-xds refuses them). PERMISSIVE is plain text unless the workload is
 * labelled `security.istio.io/tlsMode: istio` (then its clients use mTLS: STRICT), as Istio's
 * proxyless generator does.
 *
 * Access logs and tracing (Telemetry, mesh config; the SERVER mode) go on every sidecar HCM and
 * tcp_proxy, as on `virtualOutbound`; proxyless servers get none (grpc-js-xds ignores them).
 *
 * Authorization plugs in through `inboundFilters`: the HTTP filters (before the router) of an HTTP
 * chain, the network filters (before tcp_proxy) of a TCP chain.
 */
import { isIP } from 'node:net';
import { portMtls, type EffectiveMtlsMode, type WorkloadMtls } from '../../../model/peer-authentication.js';
import { isHttpProtocol, type MeshProtocol } from '../../../model/services.js';
import type { MeshSnapshot } from '../../../model/snapshot.js';
import { INBOUND_LISTENER, INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PORT, inboundClusterName } from '../common.js';
import { HCM_TYPE, ORIGINAL_DST_TYPE, ROUTER_FILTER, ROUTER_TYPE, TCP_PROXY_TYPE, TLS_INSPECTOR_TYPE, type Json } from './envoy.js';
import { listenerTelemetry, NO_TELEMETRY, type ListenerTelemetry } from './telemetry-listener.js';
import { ISTIO_MTLS_ALPNS, proxylessDownstreamMtls, sidecarDownstreamMtls, TLS_MODE_ISTIO, TLS_MODE_LABEL } from './mtls.js';

/** Istio's listener name prefix for proxyless gRPC servers (`server_listener_resource_name_template` without `%s`). */
export const GRPC_SERVER_LISTENER_PREFIX = 'xds.istio.io/grpc/lds/inbound/';

export interface InboundChain {
  /** the destination port; undefined for the passthrough chains */
  port: number | undefined;
  http: boolean;
  proxyless: boolean;
  mtls: boolean;
}

/**
 * Filters an inbound chain runs before it forwards (authorization: RBAC). HTTP chains take HTTP filters,
 * TCP chains network filters. The default is none.
 */
export type InboundFilters = (chain: InboundChain) => Json[];

export interface InboundProxy {
  namespace: string;
  labels: Readonly<Record<string, string>>;
  appPorts: readonly number[];
  ips: readonly string[];
}

const NO_FILTERS: InboundFilters = () => [];

/** The protocol of each port the proxy's workload serves, from the services whose endpoints are at one of its IPs. */
export function servedPorts(snapshot: MeshSnapshot, ips: readonly string[]): Map<number, MeshProtocol> {
  const mine = new Set(ips);
  const out = new Map<number, MeshProtocol>();
  if (mine.size === 0) return out;
  for (const s of snapshot.services) {
    for (const p of s.ports) {
      for (const e of p.endpoints) {
        // the first service naming a port decides, HTTP over TCP when two disagree (an HTTP port can carry TCP, not the reverse)
        if (!mine.has(e.address)) continue;
        const known = out.get(e.port);
        if (!known || (!isHttpProtocol(known) && isHttpProtocol(p.protocol))) out.set(e.port, p.protocol);
      }
    }
  }
  return out;
}

function tcpProxy(cluster: string, telemetry: ListenerTelemetry = NO_TELEMETRY): Json {
  const cfg: Json = { '@type': TCP_PROXY_TYPE, stat_prefix: cluster, cluster };
  if (telemetry.accessLog.length > 0) cfg['access_log'] = telemetry.accessLog;
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: cfg };
}

function router(): Json {
  return { name: ROUTER_FILTER, typed_config: { '@type': ROUTER_TYPE } };
}

function hcm(statPrefix: string, routeConfig: Json, httpFilters: Json[], telemetry: ListenerTelemetry = NO_TELEMETRY): Json {
  const cfg: Json = { '@type': HCM_TYPE, stat_prefix: statPrefix, codec_type: 'AUTO', route_config: routeConfig, http_filters: [...httpFilters, router()] };
  if (telemetry.accessLog.length > 0) cfg['access_log'] = telemetry.accessLog;
  if (telemetry.tracing) cfg['tracing'] = telemetry.tracing;
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: cfg };
}

/** What a sidecar chain runs: HCM routing everything to the port's inbound cluster, or tcp_proxy. */
function sidecarFilters(chain: InboundChain, filters: InboundFilters, telemetry: ListenerTelemetry): Json[] {
  const extra = filters(chain);
  if (chain.port === undefined) return [...extra, tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, telemetry)];
  const cluster = inboundClusterName(chain.port);
  if (!chain.http) return [...extra, tcpProxy(cluster, telemetry)];
  const routeConfig = {
    name: cluster,
    virtual_hosts: [{ name: `inbound|http|${chain.port}`, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }],
  };
  return [hcm(`inbound_0.0.0.0_${chain.port}`, routeConfig, extra, telemetry)];
}

/** One port's (or the passthrough's) chains in a mode; names are unique within the listener, as Envoy requires. */
function sidecarChains(port: number | undefined, http: boolean, mode: EffectiveMtlsMode, filters: InboundFilters, telemetry: ListenerTelemetry): Json[] {
  const base = port === undefined ? 'virtualInbound' : `inbound|${port}`;
  const at: Json = port === undefined ? {} : { destination_port: port };
  const chain = (suffix: string, match: Json, mtls: boolean): Json => {
    const c: Json = { name: `${base}|${suffix}`, filter_chain_match: { ...at, ...match }, filters: sidecarFilters({ port, http, proxyless: false, mtls }, filters, telemetry) };
    if (mtls) c['transport_socket'] = sidecarDownstreamMtls(http);
    return c;
  };
  switch (mode) {
    case 'STRICT':
      return [chain('mtls', { transport_protocol: 'tls' }, true)];
    case 'DISABLE':
      return [chain('plaintext', {}, false)];
    case 'PERMISSIVE': {
      const out = [chain('mtls', { transport_protocol: 'tls', application_protocols: [...ISTIO_MTLS_ALPNS] }, true)];
      // TLS that is not Istio's, from a client without a sidecar: passed through on TCP ports; an HTTP port cannot read it
      if (!http) out.push(chain('tls', { transport_protocol: 'tls' }, false));
      out.push(chain('plaintext', { transport_protocol: 'raw_buffer' }, false));
      return out;
    }
  }
}

/** The sidecar's inbound capture listener. */
export function sidecarInboundListener(
  snapshot: MeshSnapshot,
  proxy: InboundProxy,
  mtls: WorkloadMtls,
  filters: InboundFilters = NO_FILTERS,
  telemetry: ListenerTelemetry = listenerTelemetry(snapshot, proxy, 'SERVER'),
): Json {
  const protocols = servedPorts(snapshot, proxy.ips);
  const ports = [...new Set(proxy.appPorts)].sort((a, b) => a - b);
  const chains: Json[] = [];
  for (const port of ports) {
    const protocol = protocols.get(port);
    chains.push(...sidecarChains(port, protocol !== undefined && isHttpProtocol(protocol), portMtls(mtls, port), filters, telemetry));
  }
  chains.push(...sidecarChains(undefined, false, mtls.mode, filters, telemetry));
  return {
    name: INBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: INBOUND_PORT } },
    traffic_direction: 'INBOUND',
    listener_filters: [
      { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': ORIGINAL_DST_TYPE } },
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR_TYPE } },
    ],
    filter_chains: chains,
    // connections no chain took, as on virtualOutbound (telemetry-listener.ts)
    ...(telemetry.listenerAccessLog.length > 0 ? { access_log: telemetry.listenerAccessLog } : {}),
  };
}

/** Istio's proxyless rule: PERMISSIVE is served as plain text, or as mTLS for a workload labelled for it. */
export function proxylessMode(mode: EffectiveMtlsMode, labels: Readonly<Record<string, string>>): 'STRICT' | 'DISABLE' {
  if (mode === 'PERMISSIVE') return labels[TLS_MODE_LABEL] === TLS_MODE_ISTIO ? 'STRICT' : 'DISABLE';
  return mode;
}

export function grpcServerListenerName(address: string, port: number): string {
  return `${GRPC_SERVER_LISTENER_PREFIX}${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

/**
 * The server listeners of a proxyless gRPC workload: for its app ports and the ports its endpoints
 * serve, on each of its IPs and on 0.0.0.0 (servers usually bind the wildcard address).
 */
export function proxylessServerListeners(snapshot: MeshSnapshot, proxy: InboundProxy, mtls: WorkloadMtls, filters: InboundFilters = NO_FILTERS): Json[] {
  const ports = [...new Set([...proxy.appPorts, ...servedPorts(snapshot, proxy.ips).keys()])].sort((a, b) => a - b);
  const addresses = [...new Set(['0.0.0.0', ...proxy.ips])];
  const out: Json[] = [];
  for (const port of ports) {
    const secure = proxylessMode(portMtls(mtls, port), proxy.labels) === 'STRICT';
    const routeConfig = { name: 'inbound', virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '/' }, non_forwarding_action: {} }] }] };
    const chain: Json = {
      name: secure ? 'inbound-mtls' : 'inbound-plaintext',
      filters: [hcm(`inbound_${port}`, routeConfig, filters({ port, http: true, proxyless: true, mtls: secure }))],
    };
    if (secure) chain['transport_socket'] = proxylessDownstreamMtls();
    for (const address of addresses) {
      out.push({ name: grpcServerListenerName(address, port), address: { socket_address: { address, port_value: port } }, filter_chains: [chain] });
    }
  }
  return out;
}
