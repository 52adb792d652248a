/**
 * Envoy v3 bootstrap for one sidecar (pure). The webhook embeds the result, as
 * JSON, in the proxy container's `--config-yaml` argument; values may contain
 * Kubernetes `$(VAR)` references (pod IP, pod name from the downward API), which
 * the kubelet expands in container args, so the same text works for classic and
 * native sidecars with a stock Envoy image and no agent or init step.
 *
 * The status port 15020 does what Istio's agent does there with stock Envoy
 * extensions only: httpGet probes are routes to the app; grpc probes and the
 * merged Prometheus scrape are answered by the Lua filter (STATUS_LUA, told
 * what to do by route metadata); tcpSocket probes are answered by the
 * health-check filter from an active TCP health check of the app's port.
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
   * `{ httpGet: { path?, port, scheme?, host?, httpHeaders? } | grpc: { port, service? } |
   * tcpSocket: { port }, timeoutSeconds? }`. Entries `parseAppProbe` rejects are skipped.
   */
  appProbes?: Record<string, unknown>;
  /**
   * The app's original Prometheus target (Istio's ISTIO_PROMETHEUS_ANNOTATIONS, parsed):
   * `{ scrape?, port?, path?, targets?: [{ port, path? }] }`. When it names a port,
   * `:15020/stats/prometheus` answers with Envoy's stats followed by the app's.
   */
  prometheusScrape?: PrometheusScrape;
  /** DNS suffix of the cluster, default cluster.local */
  clusterDomain?: string;
  /**
   * The directory the injector mounted the workload certificate into (workload-credentials.ts);
   * when set, static secrets `default` and `ROOTCA` read it, for the xDS TLS contexts to name.
   */
  workloadCredentialsDir?: string;
}

import { UserError } from '../common/errors.js';
import { isPort } from '../common/names.js';
import { isObject } from '../common/objects.js';
import { METRICS_FETCH_TIMEOUT_MS, parsePrometheusScrape, type PrometheusScrape } from './app-metrics.js';
import { DEFAULT_PROBE_TIMEOUT_S, TCP_PROBE_INTERVAL_S, parseAppProbe, grpcHealthCheckFrame, type AppProbe, type TcpAppProbe } from './app-probes.js';
import { LUA_FILTER_NAME, LUA_METADATA_KEY, STATUS_LUA } from './status-lua.js';
import { staticSecrets } from './workload-credentials.js';

export type { PrometheusScrape } from './app-metrics.js';

export const DEFAULT_XDS_ADDRESS = 'tandem-xds.tandem-system.svc:15010';
export const ADMIN_PORT = 15000;
export const XDS_CLUSTER = 'xds-grpc';
const ADMIN_CLUSTER = 'tandem-admin';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const LUA = 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua';
const HEALTH_CHECK = 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck';
const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
type Json = Record<string, unknown>;

/** Splits `host:port` / `[v6]:port`; throws on a missing or invalid port. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m || !m[1] || !isPort(m[2]!)) throw new UserError(`xDS address must be HOST:PORT, got ${JSON.stringify(address)}`);
  return { host: m[1], port: Number(m[2]) };
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

const HTTP2_UPSTREAM: Json = {
  typed_extension_protocol_options: {
    [HTTP_OPTIONS_KEY]: { '@type': `type.googleapis.com/${HTTP_OPTIONS_KEY}`, explicit_http_config: { http2_protocol_options: {} } },
  },
};

function httpListener(name: string, port: number, routes: Json[], filters: Json[] = []): Json {
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
              http_filters: [...filters, { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

function probeClusterName(p: AppProbe): string {
  if (p.kind === 'http') return `tandem-app-probe|${p.https ? 'https' : 'http'}|${p.port}`;
  return `tandem-app-probe|${p.kind}|${p.port}`;
}

function metricsClusterName(port: number): string {
  return `tandem-app-metrics|${port}`;
}

function timeoutMs(p: AppProbe): number {
  return Math.round((p.timeoutSeconds ?? DEFAULT_PROBE_TIMEOUT_S) * 1000);
}

function luaMetadata(instructions: Json): Json {
  return { filter_metadata: { [LUA_FILTER_NAME]: { [LUA_METADATA_KEY]: instructions } } };
}

/** Answered by a filter before routing; the route only fails closed if that filter is missing. */
function failClosed(key: string, extra: Json = {}): Json {
  return { name: key, match: { path: key }, direct_response: { status: 503 }, ...extra };
}

function probeRoute(p: AppProbe): Json {
  if (p.kind === 'grpc') {
    return failClosed(p.key, {
      metadata: luaMetadata({
        kind: 'grpc',
        cluster: probeClusterName(p),
        authority: `127.0.0.1:${p.port}`,
        request: grpcHealthCheckFrame(p.service).toString('hex'),
        timeout_ms: timeoutMs(p),
      }),
    });
  }
  if (p.kind === 'tcp') return failClosed(p.key);
  const route: Json = { cluster: probeClusterName(p), prefix_rewrite: p.path };
  if (p.host) route['host_rewrite_literal'] = p.host;
  if (p.timeoutSeconds) route['timeout'] = `${p.timeoutSeconds}s`;
  const r: Json = { name: p.key, match: { path: p.key }, route };
  if (p.headers.length > 0) {
    r['request_headers_to_add'] = p.headers.map((h) => ({ header: { key: h.name, value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }));
  }
  return r;
}

/** Answers a tcpSocket probe's path from the active TCP health check of its cluster. */
function tcpProbeFilter(p: TcpAppProbe): Json {
  return {
    name: `tandem.tcp-probe${p.key}`,
    typed_config: {
      '@type': HEALTH_CHECK,
      pass_through_mode: false,
      headers: [{ name: ':path', string_match: { exact: p.key } }],
      cluster_min_healthy_percentages: { [probeClusterName(p)]: { value: 100 } },
    },
  };
}

function probeCluster(name: string, probes: AppProbe[]): Json {
  const p = probes[0] as AppProbe;
  if (p.kind === 'http' && p.https) {
    return staticCluster(name, '127.0.0.1', p.port, { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS } } });
  }
  if (p.kind === 'grpc') return staticCluster(name, '127.0.0.1', p.port, HTTP2_UPSTREAM);
  if (p.kind === 'tcp') {
    // A connect-only check, as the kubelet's; the strictest timeout of the probes sharing the port.
    const timeout = Math.min(...probes.map((x) => x.timeoutSeconds ?? DEFAULT_PROBE_TIMEOUT_S));
    const every = `${TCP_PROBE_INTERVAL_S}s`;
    return staticCluster(name, '127.0.0.1', p.port, {
      health_checks: [
        {
          timeout: `${timeout}s`,
          interval: every,
          // Nothing is ever routed to this cluster: without this Envoy checks only once a minute.
          no_traffic_interval: every,
          unhealthy_threshold: 1,
          healthy_threshold: 1,
          tcp_health_check: {},
        },
      ],
    });
  }
  return staticCluster(name, '127.0.0.1', p.port);
}

export function renderBootstrap(p: SidecarBootstrapParams): Record<string, unknown> {
  const domain = p.clusterDomain ?? 'cluster.local';
  const xds = parseHostPort(p.xdsAddress);
  const labels = p.labels ?? {};
  const workload = labels['app'] ?? labels['app.kubernetes.io/name'] ?? p.serviceAccount;
  const probes = Object.entries(p.appProbes ?? {})
    .map(([k, v]) => parseAppProbe(k, v))
    .filter((x): x is AppProbe => x !== undefined)
    .sort((a, b) => a.key.localeCompare(b.key));
  const metricsTargets = parsePrometheusScrape(p.prometheusScrape);

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
      ...HTTP2_UPSTREAM,
    },
    staticCluster(ADMIN_CLUSTER, '127.0.0.1', ADMIN_PORT),
  ];
  const byCluster = new Map<string, AppProbe[]>();
  for (const probe of probes) {
    const name = probeClusterName(probe);
    const list = byCluster.get(name);
    if (list) list.push(probe);
    else byCluster.set(name, [probe]);
  }
  for (const [name, list] of byCluster) clusters.push(probeCluster(name, list));
  for (const port of [...new Set(metricsTargets.map((t) => t.port))]) clusters.push(staticCluster(metricsClusterName(port), '127.0.0.1', port));

  const toAdmin = (path: string, rewrite?: string): Json => ({
    match: { path },
    route: rewrite ? { cluster: ADMIN_CLUSTER, prefix_rewrite: rewrite } : { cluster: ADMIN_CLUSTER },
  });
  // With app targets the Lua filter answers; if it cannot run, Envoy's own stats are still served.
  const statsRoute: Json =
    metricsTargets.length === 0
      ? toAdmin('/stats/prometheus')
      : {
          ...toAdmin('/stats/prometheus'),
          metadata: luaMetadata({
            kind: 'metrics',
            timeout_ms: METRICS_FETCH_TIMEOUT_MS,
            targets: [
              { cluster: ADMIN_CLUSTER, path: '/stats/prometheus', authority: `127.0.0.1:${ADMIN_PORT}` },
              ...metricsTargets.map((t) => ({ cluster: metricsClusterName(t.port), path: t.path, authority: `127.0.0.1:${t.port}` })),
            ],
          }),
        };
  const statusFilters: Json[] = probes.filter((x): x is TcpAppProbe => x.kind === 'tcp').map(tcpProbeFilter);
  if (metricsTargets.length > 0 || probes.some((x) => x.kind === 'grpc')) {
    statusFilters.push({ name: LUA_FILTER_NAME, typed_config: { '@type': LUA, default_source_code: { inline_string: STATUS_LUA } } });
  }

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
        httpListener('tandem-agent-15020', 15020, [statsRoute, ...probes.map(probeRoute)], statusFilters),
      ],
      ...(p.workloadCredentialsDir !== undefined ? { secrets: staticSecrets(p.workloadCredentialsDir) } : {}),
    },
  };
}
