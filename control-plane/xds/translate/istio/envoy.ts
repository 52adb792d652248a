/**
 * Envoy names the Istio translation emits: type URLs, filter names, Istio's cluster names. Kept in one
 * place so that the filters an HCM lists and the per-route configs that address them cannot disagree.
 */
export type Json = Record<string, unknown>;

export const T = 'type.googleapis.com/';
export const HCM_TYPE = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
export const ROUTER_TYPE = `${T}envoy.extensions.filters.http.router.v3.Router`;
export const FAULT_TYPE = `${T}envoy.extensions.filters.http.fault.v3.HTTPFault`;
export const CORS_FILTER_TYPE = `${T}envoy.extensions.filters.http.cors.v3.Cors`;
export const CORS_POLICY_TYPE = `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`;
export const TCP_PROXY_TYPE = `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`;
export const ORIGINAL_DST_TYPE = `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`;
export const TLS_INSPECTOR_TYPE = `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`;
export const UPSTREAM_TLS_TYPE = `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`;
export const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
export const PREVIOUS_HOSTS_TYPE = `${T}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`;
export const PREVIOUS_PRIORITIES_TYPE = `${T}envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig`;

export const FAULT_FILTER = 'envoy.filters.http.fault';
export const CORS_FILTER = 'envoy.filters.http.cors';
export const ROUTER_FILTER = 'envoy.filters.http.router';

export const ADS = { ads: {}, resource_api_version: 'V3' };

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';

/** Istio's outbound cluster name: `outbound|<port>|<subset>|<host>` (subset empty for the service itself). */
export function outboundCluster(port: number, subset: string | undefined, host: string): string {
  return `outbound|${port}|${subset ?? ''}|${host}`;
}

/** Istio's Percent (0-100, a double) as Envoy's FractionalPercent per million, as Istio converts it. */
export function fractionalPercent(value: number | undefined): Json {
  // truncated like Istio's uint32(p.Value * 10000), so both give the same numerator for the same input
  return { numerator: Math.trunc((value ?? 0) * 10000), denominator: 'MILLION' };
}

const NANOS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * An Istio duration (Go syntax as the CRDs accept it: `1m`, `8ms`, `1h30m`, `1.5s`) in proto3 JSON form
 * (`60s`, `0.008s`), the only form Envoy parses. Validation has already refused malformed values; an
 * unreadable one is passed through unchanged so that the strict checker names it.
 */
export function duration(d: string): string {
  const parts = [...d.matchAll(/([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== d) return d;
  const nanos = Math.round(parts.reduce((n, [, v, u]) => n + Number(v) * NANOS[u!]!, 0));
  const secs = Math.floor(nanos / 1e9);
  const frac = nanos % 1e9;
  return frac === 0 ? `${secs}s` : `${secs}.${String(frac).padStart(9, '0').replace(/0+$/, '')}s`;
}

/** Whole seconds of an Istio duration (for the fields Envoy takes as integer seconds). */
export function durationSeconds(d: string): number {
  const s = duration(d);
  return Math.floor(Number(s.slice(0, -1)));
}
