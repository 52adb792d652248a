/**
 * Clusters (CDS) for the services a proxy imports: per port the service's own cluster
 * `outbound|<port>||<host>` and one per DestinationRule subset `outbound|<port>|<subset>|<host>`, each
 * with the traffic policy that applies to it (traffic-policy.ts). The discovery type follows the
 * resolution: EDS for registry services and STATIC entries (and NONE entries with endpoints),
 * STRICT_DNS / LOGICAL_DNS for DNS / DNS_ROUND_ROBIN, ORIGINAL_DST for NONE without endpoints and for
 * the PASSTHROUGH load balancer.
 */
import type { ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection } from '../../../../config/kinds.js';
import type { ProxyView } from '../../../model/proxy-view.js';
import type { MeshService, MeshServicePort } from '../../../model/services.js';
import { ADS, duration, durationSeconds, HTTP_OPTIONS, outboundCluster, PASSTHROUGH_CLUSTER, BLACKHOLE_CLUSTER, T, type Json } from './envoy.js';
import { loadAssignment, subsetEndpoints } from './endpoints.js';
import { clusterTransport, type ClusterTlsRequest, type TlsHooks } from './tls.js';
import { clusterPolicy, type ClusterPolicy } from './traffic-policy.js';

export interface ClusterOptions extends TlsHooks {
  /**
   * Proxyless gRPC: grpc-js-xds accepts EDS and LOGICAL_DNS clusters, ROUND_ROBIN / RING_HASH /
   * LEAST_REQUEST, circuit breakers and outlier detection; no ORIGINAL_DST, no file-based TLS.
   */
  proxyless?: boolean;
}

const MAX = 4294967295; // Istio's default thresholds: no limit unless the user sets one
const DEFAULT_CONNECT_TIMEOUT = '10s';
const DEFAULT_RING_SIZE = '1024';

type Discovery = 'EDS' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'ORIGINAL_DST';

function discovery(s: MeshService, p: MeshServicePort, lb: LoadBalancerSettings | undefined, proxyless: boolean): Discovery | undefined {
  let d: Discovery;
  if (lb?.simple === 'PASSTHROUGH') d = 'ORIGINAL_DST';
  else if (s.resolution === 'DNS') d = proxyless ? 'LOGICAL_DNS' : 'STRICT_DNS';
  else if (s.resolution === 'DNS_ROUND_ROBIN') d = 'LOGICAL_DNS';
  else if (s.resolution === 'NONE' && p.endpoints.length === 0) d = 'ORIGINAL_DST';
  else d = 'EDS';
  return proxyless && d === 'ORIGINAL_DST' ? undefined : d;
}

function lbFields(lb: LoadBalancerSettings | undefined, proxyless: boolean): Json {
  const ch = lb?.consistentHash;
  if (ch) {
    if (ch.maglev && !proxyless) return { lb_policy: 'MAGLEV', ...(ch.maglev.tableSize ? { maglev_lb_config: { table_size: String(ch.maglev.tableSize) } } : {}) };
    const size = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize;
    return { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: size ? String(size) : DEFAULT_RING_SIZE } };
  }
  switch (lb?.simple) {
    case 'LEAST_REQUEST':
    case 'LEAST_CONN':
      return { lb_policy: 'LEAST_REQUEST' };
    case 'RANDOM':
      return { lb_policy: proxyless ? 'ROUND_ROBIN' : 'RANDOM' };
    default:
      // No rule: today's round robin. (Istio itself defaults to LEAST_REQUEST.)
      return { lb_policy: 'ROUND_ROBIN' };
  }
}

function circuitBreakers(cp: ConnectionPoolSettings): Json {
  return {
    thresholds: [
      {
        max_connections: cp.tcp?.maxConnections ?? MAX,
        max_pending_requests: cp.http?.http1MaxPendingRequests ?? MAX,
        max_requests: cp.http?.http2MaxRequests ?? MAX,
        max_retries: cp.http?.maxRetries ?? MAX,
        track_remaining: true,
      },
    ],
  };
}

function protocolOptions(p: MeshServicePort, cp: ConnectionPoolSettings | undefined): Json | undefined {
  const tcpOnly = p.protocol === 'TCP' || p.protocol === 'TLS' || p.protocol === 'HTTPS';
  if (tcpOnly) return undefined;
  const h = cp?.http;
  const h2 = p.protocol === 'GRPC' || p.protocol === 'HTTP2' || h?.h2UpgradePolicy === 'UPGRADE';
  const common: Json = {};
  const idle = h?.idleTimeout ?? cp?.tcp?.idleTimeout;
  if (idle) common['idle_timeout'] = duration(idle);
  if (h?.maxRequestsPerConnection) common['max_requests_per_connection'] = h.maxRequestsPerConnection;
  if (cp?.tcp?.maxConnectionDuration) common['max_connection_duration'] = duration(cp.tcp.maxConnectionDuration);
  const h2opts: Json = h?.maxConcurrentStreams ? { max_concurrent_streams: h.maxConcurrentStreams } : {};
  if (!h2 && !h?.useClientProtocol && Object.keys(common).length === 0) return undefined;
  const opts: Json = { '@type': T + HTTP_OPTIONS };
  if (Object.keys(common).length > 0) opts['common_http_protocol_options'] = common;
  if (h?.useClientProtocol) opts['use_downstream_protocol_config'] = { http_protocol_options: {}, http2_protocol_options: h2opts };
  else opts['explicit_http_config'] = h2 ? { http2_protocol_options: h2opts } : { http_protocol_options: {} };
  return { [HTTP_OPTIONS]: opts };
}

/** Istio's outlier detection: success-rate ejection off, each consecutive-error kind enforced when set. */
function outlier(o: OutlierDetection): Json {
  const out: Json = { enforcing_success_rate: 0 };
  const five = o.consecutive5xxErrors ?? o.consecutiveErrors;
  if (five !== undefined) {
    out['consecutive_5xx'] = five;
    out['enforcing_consecutive_5xx'] = five > 0 ? 100 : 0;
  }
  if (o.consecutiveGatewayErrors !== undefined) {
    out['consecutive_gateway_failure'] = o.consecutiveGatewayErrors;
    out['enforcing_consecutive_gateway_failure'] = o.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  if (o.interval) out['interval'] = duration(o.interval);
  if (o.baseEjectionTime) out['base_ejection_time'] = duration(o.baseEjectionTime);
  if (o.maxEjectionPercent !== undefined) out['max_ejection_percent'] = o.maxEjectionPercent;
  if (o.splitExternalLocalOriginErrors) {
    out['split_external_local_origin_errors'] = true;
    if (o.consecutiveLocalOriginFailures !== undefined) out['consecutive_local_origin_failure'] = o.consecutiveLocalOriginFailures;
    out['enforcing_consecutive_local_origin_failure'] = 100;
  }
  return out;
}

function buildCluster(
  name: string,
  s: MeshService,
  p: MeshServicePort,
  policy: ClusterPolicy,
  subsetLabels: Readonly<Record<string, string>> | undefined,
  subset: string | undefined,
  o: ClusterOptions,
): Json | undefined {
  const proxyless = o.proxyless === true;
  const type = discovery(s, p, policy.loadBalancer, proxyless);
  if (!type) return undefined;
  const c: Json = { name, type };
  if (type === 'EDS') c['eds_cluster_config'] = { eds_config: ADS, service_name: name };
  const connect = policy.connectionPool?.tcp?.connectTimeout;
  c['connect_timeout'] = connect ? duration(connect) : DEFAULT_CONNECT_TIMEOUT;
  Object.assign(c, type === 'ORIGINAL_DST' ? { lb_policy: 'CLUSTER_PROVIDED' } : lbFields(policy.loadBalancer, proxyless));
  if (type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
    const eps = subsetEndpoints(p.endpoints, subsetLabels);
    // a LOGICAL_DNS cluster resolves exactly one name
    c['load_assignment'] = loadAssignment(name, type === 'LOGICAL_DNS' ? eps.slice(0, 1) : eps);
    c['dns_lookup_family'] = 'V4_ONLY';
  }
  const cp = policy.connectionPool;
  if (cp) c['circuit_breakers'] = circuitBreakers(cp);
  const tcpKeepalive = cp?.tcp?.tcpKeepalive;
  if (tcpKeepalive && !proxyless) {
    const ka: Json = {};
    if (tcpKeepalive.probes !== undefined) ka['keepalive_probes'] = tcpKeepalive.probes;
    if (tcpKeepalive.time) ka['keepalive_time'] = Math.max(1, durationSeconds(tcpKeepalive.time));
    if (tcpKeepalive.interval) ka['keepalive_interval'] = Math.max(1, durationSeconds(tcpKeepalive.interval));
    c['upstream_connection_options'] = { tcp_keepalive: ka };
  }
  const http = protocolOptions(p, cp);
  if (http) c['typed_extension_protocol_options'] = http;
  if (policy.outlierDetection) {
    c['outlier_detection'] = outlier(policy.outlierDetection);
    if (policy.outlierDetection.minHealthPercent !== undefined) c['common_lb_config'] = { healthy_panic_threshold: { value: policy.outlierDetection.minHealthPercent } };
  }
  const req: ClusterTlsRequest = { host: s.hostname, namespace: s.namespace, port: p.port, protocol: p.protocol, endpoints: subsetEndpoints(p.endpoints, subsetLabels), proxyless };
  if (subset) req.subset = subset;
  Object.assign(c, clusterTransport(policy.tls, req, o));
  return c;
}

export interface ClusterWithEndpoints {
  cluster: Json;
  /** the ClusterLoadAssignment when the cluster is EDS */
  endpoints?: Json;
}

/** Every cluster of one imported service, with the load assignment of the EDS ones. */
export function serviceClusters(view: ProxyView, s: MeshService, o: ClusterOptions = {}): ClusterWithEndpoints[] {
  const dr = view.destinationRules.get(s.hostname);
  const out: ClusterWithEndpoints[] = [];
  for (const p of s.ports) {
    const variants: { subset?: string; labels?: Readonly<Record<string, string>>; policy: ClusterPolicy }[] = [{ policy: clusterPolicy(dr, p.port) }];
    for (const sub of dr?.subsets ?? []) variants.push({ subset: sub.name, labels: sub.labels ?? {}, policy: clusterPolicy(dr, p.port, sub) });
    for (const v of variants) {
      const name = outboundCluster(p.port, v.subset, s.hostname);
      const cluster = buildCluster(name, s, p, v.policy, v.labels, v.subset, o);
      if (!cluster) continue;
      const entry: ClusterWithEndpoints = { cluster };
      if (cluster['type'] === 'EDS') entry.endpoints = loadAssignment(name, subsetEndpoints(p.endpoints, v.labels));
      out.push(entry);
    }
  }
  return out;
}

/** The clusters every sidecar has besides its services: where unknown traffic goes, or is dropped. */
export function catchAllClusters(): Json[] {
  return [
    { name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: DEFAULT_CONNECT_TIMEOUT },
    { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', connect_timeout: DEFAULT_CONNECT_TIMEOUT, lb_policy: 'CLUSTER_PROVIDED' },
  ];
}
