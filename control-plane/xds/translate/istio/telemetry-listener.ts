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

interface Log {
  log: Json;
  filter: Json | undefined;
}

/** Access logs before the listener's own filter is added: Istio's order is by provider name. */
function accessLogs(snapshot: MeshSnapshot, specs: ReturnType<typeof applicableTelemetries>, mode: WorkloadMode): Log[] {
  const mesh = snapshot.options.telemetry;
  const decisions = accessLoggingDecisions(specs, mesh, mode);
  if (!decisions) return mesh.accessLogFile ? [{ log: meshConfigAccessLog(mesh.accessLogFile, mesh), filter: undefined }] : [];
  const logs: { name: string; log: Log }[] = [];
  for (const d of decisions) {
    const p = findProvider(mesh, d.provider);
    // unknown names and providers that do not write access logs (tracers, unsupported types) log nothing, as in Istio
    if (d.disabled || !p || p.kind !== 'envoyFileAccessLog') continue;
    logs.push({ name: p.name, log: { log: providerAccessLog(p, mesh), filter: d.filter ? celFilter(d.filter) : undefined } });
  }
  logs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return logs.map((l) => l.log);
}

export function listenerTelemetry(snapshot: MeshSnapshot, proxy: MeshProxy, mode: WorkloadMode): ListenerTelemetry {
  const specs = applicableTelemetries(snapshot, proxy);
  const logs = accessLogs(snapshot, specs, mode);
  return {
    accessLog: logs.map((l) => withFilters(l.log, l.filter ? [l.filter] : [])),
    listenerAccessLog: logs.map((l) => withFilters(l.log, l.filter ? [NO_ROUTE_FILTER, l.filter] : [NO_ROUTE_FILTER])),
    tracing: hcmTracing(snapshot, proxy, tracingDecision(specs, snapshot.options.telemetry, mode)),
  };
}
