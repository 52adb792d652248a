/**
 * What a sidecar listener's connection managers and TCP proxies carry for observability: access logs
 * (Telemetry API, else the mesh config's `accessLogFile`) and the HCM's tracing. Computed once per
 * proxy and direction; listeners.ts attaches it to every HCM and tcp_proxy of `virtualOutbound`
 * (CLIENT); an inbound listener asks for SERVER.
 *
 * Proxyless gRPC clients get none of it: grpc-js-xds ignores access_log and tracing in the HCM of an
 * API listener, so their API listeners stay as they are.
 */
import type { MeshProxy } from '../../../model/proxy.js';
import type { MeshSnapshot } from '../../../model/snapshot.js';
import { celFilter, meshConfigAccessLog, NO_ROUTE_FILTER, providerAccessLog, withFilters } from './access-log.js';
import type { Json } from './envoy.js';
import { accessLoggingDecisions, applicableTelemetries, findProvider, tracingDecision, type WorkloadMode } from './telemetry.js';
import { hcmTracing } from './tracing.js';

export interface ListenerTelemetry {
  /** `access_log` of every HCM and tcp_proxy */
  accessLog: Json[];
  /** the listener's own `access_log` (connections no filter chain took) */
  listenerAccessLog: Json[];
  /** the HCM's `tracing`, if any */
  tracing: Json | undefined;
}

export const NO_TELEMETRY: ListenerTelemetry = Object.freeze({ accessLog: [], listenerAccessLog: [], tracing: undefined });

export interface ProviderAccessLog {
  provider: string;
  log: Json;
  filter: Json | undefined;
}

/**
 * The access logs of a proxy in one mode, in Istio's order (by provider name): undefined when no
 * Telemetry and no default provider speaks, so that the mesh config's `accessLogFile` decides.
 * Unknown names and providers that do not write access logs (tracers, unsupported types) log
 * nothing, as in Istio.
 */
export function telemetryAccessLogs(snapshot: MeshSnapshot, proxy: MeshProxy, mode: WorkloadMode): ProviderAccessLog[] | undefined {
  const mesh = snapshot.options.telemetry;
  const decisions = accessLoggingDecisions(applicableTelemetries(snapshot, proxy), mesh, mode);
  if (!decisions) return undefined;
  const logs: ProviderAccessLog[] = [];
  for (const d of decisions) {
    const p = findProvider(mesh, d.provider);
    if (d.disabled || !p || p.kind !== 'envoyFileAccessLog') continue;
    logs.push({ provider: p.name, log: providerAccessLog(p, mesh), filter: d.filter ? celFilter(d.filter) : undefined });
  }
  return logs.sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0));
}

function accessLogs(snapshot: MeshSnapshot, proxy: MeshProxy, mode: WorkloadMode): ProviderAccessLog[] {
  const mesh = snapshot.options.telemetry;
  const logs = telemetryAccessLogs(snapshot, proxy, mode);
  if (logs) return logs;
  return mesh.accessLogFile ? [{ provider: '', log: meshConfigAccessLog(mesh.accessLogFile, mesh), filter: undefined }] : [];
}

export function listenerTelemetry(snapshot: MeshSnapshot, proxy: MeshProxy, mode: WorkloadMode): ListenerTelemetry {
  const logs = accessLogs(snapshot, proxy, mode);
  return {
    accessLog: logs.map((l) => withFilters(l.log, l.filter ? [l.filter] : [])),
    listenerAccessLog: logs.map((l) => withFilters(l.log, l.filter ? [NO_ROUTE_FILTER, l.filter] : [NO_ROUTE_FILTER])),
    tracing: hcmTracing(snapshot, proxy, tracingDecision(applicableTelemetries(snapshot, proxy), snapshot.options.telemetry, mode)),
  };
}
