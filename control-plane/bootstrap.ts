/**
 * Envoy v3 bootstrap for one sidecar (pure). The webhook embeds the result, as
 * JSON, in the proxy container's `--config-yaml` argument; values may contain
 * Kubernetes `$(VAR)` references (pod IP, pod name from the downward API), which
 * the kubelet expands in container args, so the same text works for classic and
 * native sidecars with a stock Envoy image and no agent or init step.
 */
export interface SidecarBootstrapParams {
  podName: string;
  podNamespace: string;
  podIp: string;
  serviceAccount: string;
  /** host:port of tandem's xDS server */
  xdsAddress: string;
  clusterId?: string;
  meshId?: string;
  labels?: Record<string, string>;
  /** app container ports, for node metadata */
  appPorts?: number[];
  /**
   * original app probes keyed by `/app-health/<container>/<livez|readyz|startupz>`,
   * each the container's Kubernetes probe (Istio's ISTIO_KUBE_APP_PROBERS shape):
   * `{ httpGet: { path?, port, scheme?, host?, httpHeaders? }, timeoutSeconds? }`.
   * Only httpGet probes with a numeric port can be forwarded by Envoy; others are skipped.
   */
  appProbes?: Record<string, unknown>;
  concurrency?: number;
  logLevel?: string;
  /** DNS suffix of the cluster, default cluster.local */
  clusterDomain?: string;
}

import { UserError } from '../common/errors.js';

export const DEFAULT_XDS_ADDRESS = 'tandem-xds.tandem-system.svc:15010';
export const ADMIN_PORT = 15000;
export const XDS_CLUSTER = 'xds-grpc';
const ADMIN_CLUSTER = 'tandem-admin';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

type Json = Record<string, unknown>;

interface HttpProbe {
  key: string;
  port: number;
  path: string;
  https: boolean;
  host?: string;
  headers: Array<{ name: string; value: string }>;
  timeoutSeconds?: number;
}

const PROBE_KEY = /^\/app-health\/[^/]+\/(livez|readyz|startupz)$/;

/** Parses one entry of `appProbes`; undefined when Envoy cannot forward it (tcpSocket, grpc, named port). */
export function parseAppProbe(key: string, value: unknown): HttpProbe | undefined {
  if (!PROBE_KEY.test(key) || typeof value !== 'object' || value === null) return undefined;
  const v = value as Json;
  const get = v['httpGet'];
  if (typeof get !== 'object' || get === null) return undefined;
  const g = get as Json;
  const port = typeof g['port'] === 'number' ? g['port'] : typeof g['port'] === 'string' && /^\d+$/.test(g['port']) ? Number(g['port']) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const rawPath = typeof g['path'] === 'string' && g['path'] !== '' ? g['path'] : '/';
  const headers: Array<{ name: string; value: string }> = [];
  if (Array.isArray(g['httpHeaders'])) {
    for (const h of g['httpHeaders']) {
      const hh = h as Json;
      if (typeof hh['name'] === 'string' && typeof hh['value'] === 'string') headers.push({ name: hh['name'], value: hh['value'] });
    }
  }
  const probe: HttpProbe = {
    key,
    port,
    path: rawPath.startsWith('/') ? rawPath : `/${rawPath}`,
    https: String(g['scheme'] ?? 'HTTP').toUpperCase() === 'HTTPS',
    headers,
  };
  if (typeof g['host'] === 'string' && g['host'] !== '') probe.host = g['host'];
  if (typeof v['timeoutSeconds'] === 'number' && v['timeoutSeconds'] > 0) probe.timeoutSeconds = v['timeoutSeconds'];
  return probe;
}

/** Splits `host:port` / `[v6]:port`; throws on a missing or invalid port. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || port < 1 || port > 65535) throw new UserError(`xDS address must be HOST:PORT, got ${JSON.stringify(address)}`);
  return { host: m[1], port };
}

function socketAddress(address: string, port: number): Json {
  return { socket_address: { address, port_value: port } };
}

function staticCluster(name: string, address: string, port: number, extra: Json = {}): Json {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, port) } }] }] },
    ...extra,
  };
}

function httpListener(name: string, port: number, routes: Json[]): Json {
  return {
    name,
    address: socketAddress('0.0.0.0', port),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              codec_type: 'AUTO',
              route_config: { name, virtual_hosts: [{ name, domains: ['*'], routes }] },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

function probeClusterName(p: HttpProbe): string {
  return `tandem-app-probe|${p.https ? 'https' : 'http'}|${p.port}`;
}

function probeRoute(p: HttpProbe): Json {
  const route: Json = { cluster: probeClusterName(p), prefix_rewrite: p.path };
  if (p.host) route['host_rewrite_literal'] = p.host;
  if (p.timeoutSeconds) route['timeout'] = `${p.timeoutSeconds}s`;
  const r: Json = { name: p.key, match: { path: p.key }, route };
  if (p.headers.length > 0) {
    r['request_headers_to_add'] = p.headers.map((h) => ({ header: { key: h.name, value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }));
  }
  return r;
}

export function renderBootstrap(p: SidecarBootstrapParams): Record<string, unknown> {
  const domain = p.clusterDomain ?? 'cluster.local';
  const xds = parseHostPort(p.xdsAddress);
  const labels = p.labels ?? {};
  const workload = labels['app'] ?? labels['app.kubernetes.io/name'] ?? p.serviceAccount;
  const probes = Object.entries(p.appProbes ?? {})
    .map(([k, v]) => parseAppProbe(k, v))
    .filter((x): x is HttpProbe => x !== undefined)
    .sort((a, b) => a.key.localeCompare(b.key));

  const metadata: Json = {
    NAME: p.podName,
    NAMESPACE: p.podNamespace,
    INSTANCE_IPS: p.podIp,
    SERVICE_ACCOUNT: p.serviceAccount,
    LABELS: { ...labels },
    MESH_ID: p.meshId ?? domain,
    CLUSTER_ID: p.clusterId ?? 'Kubernetes',
    APP_PORTS: [...new Set(p.appPorts ?? [])].sort((a, b) => a - b),
  };

  const clusters: Json[] = [
    {
      name: XDS_CLUSTER,
      type: 'STRICT_DNS',
      connect_timeout: '1s',
      dns_lookup_family: 'V4_PREFERRED',
      load_assignment: { cluster_name: XDS_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(xds.host, xds.port) } }] }] },
      typed_extension_protocol_options: {
        [HTTP_OPTIONS_KEY]: { '@type': `type.googleapis.com/${HTTP_OPTIONS_KEY}`, explicit_http_config: { http2_protocol_options: {} } },
      },
    },
    staticCluster(ADMIN_CLUSTER, '127.0.0.1', ADMIN_PORT),
  ];
  const seen = new Set<string>();
  for (const probe of probes) {
    const name = probeClusterName(probe);
    if (seen.has(name)) continue;
    seen.add(name);
    const extra: Json = probe.https
      ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS } } }
      : {};
    clusters.push(staticCluster(name, '127.0.0.1', probe.port, extra));
  }

  const toAdmin = (path: string, rewrite?: string): Json => ({
    match: { path },
    route: rewrite ? { cluster: ADMIN_CLUSTER, prefix_rewrite: rewrite } : { cluster: ADMIN_CLUSTER },
  });

  return {
    node: {
      id: `sidecar~${p.podIp}~${p.podName}.${p.podNamespace}~${p.podNamespace}.svc.${domain}`,
      cluster: `${workload}.${p.podNamespace}`,
      metadata,
    },
    admin: { address: socketAddress('127.0.0.1', ADMIN_PORT) },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters,
      listeners: [
        // Envoy's admin /ready answers 200 only once the server is LIVE, i.e. after the
        // first CDS/LDS from the control plane have been applied.
        httpListener('tandem-health-15021', 15021, [toAdmin('/healthz/ready', '/ready')]),
        httpListener('tandem-prometheus-15090', 15090, [toAdmin('/stats/prometheus')]),
        httpListener('tandem-agent-15020', 15020, [toAdmin('/stats/prometheus'), ...probes.map(probeRoute)]),
      ],
    },
  };
}
