/**
 * A sidecar HCM's `tracing` from a TracingDecision (telemetry.ts): the Zipkin or OpenTelemetry tracer
 * reporting to the provider's service through its Istio outbound cluster `outbound|<port>||<fqdn>`,
 * Istio's sampling (client and overall 100 %, random = `randomSamplingPercentage`, else Istio's
 * default 1 %), and the Telemetry's literal / environment / header custom tags.
 *
 * Not emitted: Istio's built-in `istio.*` tags (they need node metadata such as the mesh and cluster
 * ids that the translation does not read) and the legacy path (mesh `enableTracing` without any
 * Telemetry tracing or default provider), which in Istio relies on a tracer in the bootstrap that
 * tandem's bootstrap does not configure.
 */
import type { OpenTelemetryProvider, ZipkinProvider } from '../../../../config/mesh/mesh-config.js';
import type { MeshProxy } from '../../../model/proxy.js';
import type { MeshSnapshot } from '../../../model/snapshot.js';
import { outboundCluster, T, type Json } from './envoy.js';
import type { TracingDecision } from './telemetry.js';

export const ZIPKIN_TRACER = 'envoy.tracers.zipkin';
export const ZIPKIN_TYPE = `${T}envoy.config.trace.v3.ZipkinConfig`;
export const OTEL_TRACER = 'envoy.tracers.opentelemetry';
export const OTEL_TYPE = `${T}envoy.config.trace.v3.OpenTelemetryConfig`;

/** Istio's PILOT_TRACE_SAMPLING default, used when no Telemetry sets a percentage. */
export const DEFAULT_SAMPLING = 1;
const ZIPKIN_PATH = '/api/v2/spans';
// Envoy requires a timeout on an HttpUri; Istio's Zipkin default (5 s) for OTLP over HTTP as well
const HTTP_TIMEOUT = '5s';

export interface Collector {
  hostname: string;
  cluster: string;
}

/**
 * Istio's cluster lookup for a provider's `service`: `namespace/host` names one service, a bare host
 * must be unique across namespaces. Undefined when no service (or more than one) matches.
 */
export function lookupCollector(snapshot: MeshSnapshot, service: string, port: number): Collector | undefined {
  const slash = service.indexOf('/');
  const ns = slash < 0 ? undefined : service.slice(0, slash);
  const host = slash < 0 ? service : service.slice(slash + 1);
  const candidates = snapshot.servicesByHost.get(host) ?? [];
  const matching = ns === undefined ? candidates : candidates.filter((s) => s.namespace === ns);
  const namespaces = new Set(matching.map((s) => s.namespace));
  if (namespaces.size !== 1) return undefined;
  return { hostname: host, cluster: outboundCluster(port, undefined, host) };
}

function zipkin(p: ZipkinProvider, c: Collector): Json {
  return {
    '@type': ZIPKIN_TYPE,
    collector_cluster: c.cluster,
    collector_endpoint: ZIPKIN_PATH,
    trace_id_128bit: !p.enable64bitTraceId,
    shared_span_context: false,
    collector_endpoint_version: 'HTTP_JSON',
    collector_hostname: c.hostname,
  };
}

/** The span's service name, as the bootstrap names the node's cluster: `<app>.<namespace>`. */
function serviceName(proxy: MeshProxy): string {
  const app = proxy.labels['app'] ?? proxy.labels['app.kubernetes.io/name'] ?? 'unknown';
  return `${app}.${proxy.namespace}`;
}

function openTelemetry(p: OpenTelemetryProvider, c: Collector, proxy: MeshProxy): Json {
  const cfg: Json = { '@type': OTEL_TYPE, service_name: serviceName(proxy) };
  if (p.httpPath !== undefined) {
    // Istio joins host and path without a scheme; the cluster decides where it goes
    const path = p.httpPath.startsWith('/') ? p.httpPath : `/${p.httpPath}`;
    cfg['http_service'] = { http_uri: { uri: `${c.hostname}${path}`, cluster: c.cluster, timeout: HTTP_TIMEOUT } };
  } else {
    cfg['grpc_service'] = { envoy_grpc: { cluster_name: c.cluster, authority: c.hostname } };
  }
  return cfg;
}

/** Telemetry custom tags (literal, environment, header) as Envoy CustomTags, sorted by tag as Istio sorts them. */
export function customTags(tags: Readonly<Record<string, unknown>>): Json[] {
  const out: Json[] = [];
  for (const [tag, raw] of Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const t = raw as { literal?: { value?: string }; environment?: { name?: string; defaultValue?: string }; header?: { name?: string; defaultValue?: string } } | null;
    const withDefault = (name: string, d: string | undefined): Json => (d ? { name, default_value: d } : { name });
    if (t?.literal?.value) out.push({ tag, literal: { value: t.literal.value } });
    else if (t?.environment?.name) out.push({ tag, environment: withDefault(t.environment.name, t.environment.defaultValue) });
    else if (t?.header?.name) out.push({ tag, request_header: withDefault(t.header.name, t.header.defaultValue) });
    // other kinds (none today in Istio's API) and empty values: Envoy would refuse them, Istio skips them
  }
  return out;
}

/** The HCM `tracing` of a decision, or undefined: disabled, a provider that cannot trace, or a collector service not in the mesh. */
export function hcmTracing(snapshot: MeshSnapshot, proxy: MeshProxy, d: TracingDecision | undefined): Json | undefined {
  if (!d || d.disabled || !d.provider) return undefined;
  const p = d.provider;
  if (p.kind !== 'zipkin' && p.kind !== 'opentelemetry') return undefined;
  const c = lookupCollector(snapshot, p.service, p.port);
  if (!c) return undefined;
  const out: Json = {
    provider: { name: p.kind === 'zipkin' ? ZIPKIN_TRACER : OTEL_TRACER, typed_config: p.kind === 'zipkin' ? zipkin(p, c) : openTelemetry(p, c, proxy) },
    client_sampling: { value: 100 },
    random_sampling: { value: d.randomSamplingPercentage ?? DEFAULT_SAMPLING },
    overall_sampling: { value: 100 },
  };
  if (p.maxTagLength !== 0) out['max_path_tag_length'] = p.maxTagLength;
  const tags = d.customTags ? customTags(d.customTags) : [];
  if (tags.length > 0) out['custom_tags'] = tags;
  return out;
}
