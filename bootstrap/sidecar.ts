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
}

/** ISTIO_PROMETHEUS_ANNOTATIONS as the injector writes it (inject/prometheus.ts ScrapeConfiguration). */
export interface PrometheusScrape {
  scrape?: string;
  port?: string | number;
  path?: string;
  targets?: Array<{ port: string | number; path?: string }>;
}

import { UserError } from '../common/errors.js';
import { isPort } from '../common/names.js';
import { isObject } from '../common/objects.js';

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
/** The Lua filter reads route metadata filed under its own name (older Envoys: only this name). */
export const LUA_FILTER_NAME = 'envoy.filters.http.lua';
/** Key of the per-route instructions for STATUS_LUA inside the Lua filter's route metadata. */
export const LUA_METADATA_KEY = 'tandem';

/** Kubernetes' default probe timeout. */
const DEFAULT_PROBE_TIMEOUT_S = 1;
/** How often Envoy connects to a tcpSocket probe's port; the probe answers from the latest result. */
export const TCP_PROBE_INTERVAL_S = 2;
/** Per upstream fetch of a merged scrape (Envoy's admin, then each app target). */
export const METRICS_FETCH_TIMEOUT_MS = 5000;

type Json = Record<string, unknown>;

interface ProbeBase {
  key: string;
  port: number;
  timeoutSeconds?: number;
}
export interface HttpAppProbe extends ProbeBase {
  kind: 'http';
  path: string;
  https: boolean;
  host?: string;
  headers: Array<{ name: string; value: string }>;
}
export interface GrpcAppProbe extends ProbeBase {
  kind: 'grpc';
  /** grpc.health.v1 service name; '' asks about the server as a whole */
  service: string;
}
export interface TcpAppProbe extends ProbeBase {
  kind: 'tcp';
}
export type AppProbe = HttpAppProbe | GrpcAppProbe | TcpAppProbe;

const PROBE_KEY = /^\/app-health\/[^/]+\/(livez|readyz|startupz)$/;

function numericPort(raw: unknown): number | undefined {
  return (typeof raw === 'number' || typeof raw === 'string') && isPort(raw) ? Number(raw) : undefined;
}

/**
 * Parses one entry of `appProbes`; undefined when the bootstrap cannot serve it
 * (named port, a tcpSocket probe of another host, exec, an unknown key).
 * httpGet is routed to the app; grpc is a grpc.health.v1 Check made by the Lua
 * filter; tcpSocket is Envoy's active TCP health check of the port.
 */
export function parseAppProbe(key: string, value: unknown): AppProbe | undefined {
  if (!PROBE_KEY.test(key) || !isObject(value)) return undefined;
  const timeout = typeof value['timeoutSeconds'] === 'number' && value['timeoutSeconds'] > 0 ? { timeoutSeconds: value['timeoutSeconds'] } : {};
  const get = value['httpGet'];
  if (isObject(get)) {
    const port = numericPort(get['port']);
    if (port === undefined) return undefined;
    const rawPath = typeof get['path'] === 'string' && get['path'] !== '' ? get['path'] : '/';
    const headers: Array<{ name: string; value: string }> = [];
    if (Array.isArray(get['httpHeaders'])) {
      for (const h of get['httpHeaders'] as unknown[]) {
        if (isObject(h) && typeof h['name'] === 'string' && typeof h['value'] === 'string') headers.push({ name: h['name'], value: h['value'] });
      }
    }
    const probe: HttpAppProbe = {
      kind: 'http',
      key,
      port,
      path: rawPath.startsWith('/') ? rawPath : `/${rawPath}`,
      https: String(get['scheme'] ?? 'HTTP').toUpperCase() === 'HTTPS',
      headers,
      ...timeout,
    };
    if (typeof get['host'] === 'string' && get['host'] !== '') probe.host = get['host'];
    return probe;
  }
  const grpc = value['grpc'];
  if (isObject(grpc)) {
    const port = numericPort(grpc['port']);
    if (port === undefined) return undefined;
    const service = grpc['service'] === undefined ? '' : grpc['service'];
    if (typeof service !== 'string') return undefined;
    return { kind: 'grpc', key, port, service, ...timeout };
  }
  const tcp = value['tcpSocket'];
  if (isObject(tcp)) {
    const port = numericPort(tcp['port']);
    // Another host would need DNS and a cluster per name; the kubelet can keep probing it directly.
    if (port === undefined || (typeof tcp['host'] === 'string' && tcp['host'] !== '')) return undefined;
    return { kind: 'tcp', key, port, ...timeout };
  }
  return undefined;
}

/**
 * The HTTP/2 body of a grpc.health.v1.Health/Check call: gRPC's 5-byte prefix
 * (uncompressed, big-endian length) and HealthCheckRequest{service} (field 1, string).
 */
export function grpcHealthCheckFrame(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const varint: number[] = [];
  for (let n = name.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      varint.push(n);
      break;
    }
    varint.push((n % 128) | 128);
  }
  const message = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint]), name]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/**
 * Runs on the status port (15020) only. A route's metadata (`tandem` under the
 * filter's name) says what to do; routes without it pass through untouched.
 * - metrics: GET each target in turn (Envoy's admin first) and answer with the
 *   concatenated Prometheus text; a failed target becomes a comment line.
 * - grpc: POST grpc.health.v1.Health/Check; 200 only for an HTTP 200 whose
 *   grpc-status (trailers-only answers carry it in the headers; httpCall does
 *   not return trailers) is absent or 0 and whose message is exactly
 *   {status: SERVING}.
 * Kept in the syntax LuaJIT (Envoy's Lua) shares with Lua 5.3.
 */
export const STATUS_LUA = String.raw`-- tandem status port (bootstrap/sidecar.ts)
local SERVING = string.char(0, 0, 0, 0, 2, 8, 1)
local TEXT = "text/plain; version=0.0.4; charset=utf-8"

local function unhex(s)
  return (string.gsub(s, "%x%x", function(b) return string.char(tonumber(b, 16)) end))
end

local function merged_metrics(h, c)
  local parts, ok = {}, false
  for _, t in ipairs(c.targets) do
    local headers, body = h:httpCall(t.cluster, {
      [":method"] = "GET", [":path"] = t.path, [":authority"] = t.authority,
      ["accept"] = "text/plain;version=0.0.4;q=1,*/*;q=0.1",
    }, nil, c.timeout_ms)
    if headers[":status"] == "200" then
      ok = true
      body = body or ""
      if body ~= "" and string.sub(body, -1) ~= "\n" then body = body .. "\n" end
      parts[#parts + 1] = body
    else
      parts[#parts + 1] = "# tandem: " .. t.cluster .. t.path .. " answered HTTP " .. tostring(headers[":status"]) .. "\n"
    end
  end
  h:respond({[":status"] = ok and "200" or "503", ["content-type"] = TEXT}, table.concat(parts))
end

local function grpc_health(h, c)
  local headers, body = h:httpCall(c.cluster, {
    [":method"] = "POST", [":path"] = "/grpc.health.v1.Health/Check", [":authority"] = c.authority,
    ["content-type"] = "application/grpc", ["te"] = "trailers",
  }, unhex(c.request), c.timeout_ms)
  local status = headers["grpc-status"]
  if headers[":status"] == "200" and (status == nil or status == "0") and body == SERVING then
    h:respond({[":status"] = "200", ["content-type"] = "text/plain"}, "SERVING\n")
  else
    h:respond({[":status"] = "503", ["content-type"] = "text/plain"},
      "gRPC health check failed: HTTP " .. tostring(headers[":status"]) .. ", grpc-status " .. tostring(status) .. "\n")
  end
end

function envoy_on_request(h)
  local c = h:metadata():get("tandem")
  if c == nil then return end
  if c.kind == "metrics" then
    merged_metrics(h, c)
  elseif c.kind == "grpc" then
    grpc_health(h, c)
  end
end
`;

/** Splits `host:port` / `[v6]:port`; throws on a missing or invalid port. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m || !m[1] || !isPort(m[2]!)) throw new UserError(`xDS address must be HOST:PORT, got ${JSON.stringify(address)}`);
  return { host: m[1], port: Number(m[2]) };
}

export interface MetricsTarget {
  port: number;
  path: string;
}

/** The app's scrape targets from ISTIO_PROMETHEUS_ANNOTATIONS; none when it names no usable port. */
export function parsePrometheusScrape(s: PrometheusScrape | undefined): MetricsTarget[] {
  if (!s || String(s.scrape ?? '').trim().toLowerCase() === 'false') return [];
  const norm = (path: string | undefined): string => {
    const p = path === undefined || path === '' ? '/metrics' : path;
    return p.startsWith('/') ? p : `/${p}`;
  };
  const raw = Array.isArray(s.targets) && s.targets.length > 0 ? s.targets : [{ port: s.port ?? '', path: s.path }];
  const out: MetricsTarget[] = [];
  const seen = new Set<string>();
  for (const t of raw) {
    const port = numericPort(t.port);
    if (port === undefined) continue;
    const target = { port, path: norm(t.path) };
    const id = `${target.port}${target.path}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(target);
  }
  return out;
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
    },
  };
}
