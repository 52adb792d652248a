/**
 * The services of the mesh in one shape, whether they come from the registry (Kubernetes Services, the
 * file registry) or from ServiceEntry objects: one MeshService per host name.
 */
import type { ServiceEntrySpec, TypedConfig } from '../../config/kinds.js';
import { configKey } from '../../config/model.js';
import type { RegistrySnapshot, Service } from '../registry/types.js';
import { resolveHost, isWildcard } from './hosts.js';
import type { MeshOptions } from './options.js';
import { labelsMatch, networkingSelector } from './selectors.js';
import { effectiveExportTo, type ExportTo } from './visibility.js';

/** Istio's port protocols; anything we cannot route as HTTP or TLS is carried as TCP. */
export type MeshProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS' | 'HTTPS';

/** How a client finds the endpoints (ServiceEntry resolution; registry services are STATIC, via EDS). */
export type MeshResolution = 'STATIC' | 'NONE' | 'DNS' | 'DNS_ROUND_ROBIN';

export interface MeshEndpoint {
  /** an IP, or a DNS name for DNS resolution */
  address: string;
  port: number;
  labels: Readonly<Record<string, string>>;
  /** ServiceEntry endpoint weight (load_balancing_weight) */
  weight?: number;
  /** `region/zone/subzone` */
  locality?: string;
  /** the workload's service account (its identity `spiffe://<td>/ns/<service ns>/sa/<sa>`), when the registry knows it */
  serviceAccount?: string;
}

export interface MeshServicePort {
  name: string;
  port: number;
  protocol: MeshProtocol;
  endpoints: readonly MeshEndpoint[];
}

export interface MeshService {
  hostname: string;
  /** the namespace of the Service or of the ServiceEntry that declared it */
  namespace: string;
  addresses: readonly string[];
  ports: readonly MeshServicePort[];
  resolution: MeshResolution;
  location: 'MESH_INTERNAL' | 'MESH_EXTERNAL';
  exportTo: ExportTo;
  /** `registry` or the configKey of the ServiceEntry */
  origin: string;
}

export function isHttpProtocol(p: MeshProtocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC';
}

export function isTlsProtocol(p: MeshProtocol): boolean {
  return p === 'TLS' || p === 'HTTPS';
}

/** Istio's protocol names are case-insensitive and have aliases; unknown ones are carried as TCP. */
export function meshProtocol(name: string | undefined): MeshProtocol {
  switch ((name ?? '').toUpperCase()) {
    case 'HTTP':
      return 'HTTP';
    case 'HTTP2':
      return 'HTTP2';
    case 'GRPC':
    case 'GRPC-WEB':
      return 'GRPC';
    case 'HTTPS':
      return 'HTTPS';
    case 'TLS':
      return 'TLS';
    default:
      return 'TCP';
  }
}

export function registryServices(reg: RegistrySnapshot, o: MeshOptions): MeshService[] {
  return reg.services.map((s: Service) => ({
    hostname: `${s.name}.${s.namespace}.svc.${o.clusterDomain}`,
    namespace: s.namespace,
    addresses: s.addresses,
    ports: s.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, endpoints: p.endpoints })),
    resolution: 'STATIC',
    location: 'MESH_INTERNAL',
    exportTo: o.defaultServiceExportTo,
    origin: 'registry',
  }));
}

/**
 * One MeshService per host of a ServiceEntry. Endpoints come from `endpoints` (their `ports` map by
 * port name, else the targetPort, else the port number), from the registry's workloads in the entry's
 * namespace when it has a workloadSelector, or — for DNS resolution without endpoints — from the host
 * name itself.
 */
export function serviceEntryServices(se: TypedConfig<'ServiceEntry'>, reg: RegistrySnapshot, o: MeshOptions): MeshService[] {
  const spec: ServiceEntrySpec = se.spec;
  const ns = se.metadata.namespace;
  const resolution: MeshResolution = spec.resolution ?? 'NONE';
  const exportTo = effectiveExportTo(spec.exportTo, o.defaultServiceExportTo);
  const selected = networkingSelector(spec.workloadSelector);
  return (spec.hosts ?? []).map((h) => {
    const hostname = resolveHost(h, ns, o.clusterDomain);
    const ports: MeshServicePort[] = (spec.ports ?? []).map((p) => {
      const target = p.targetPort ?? p.number;
      let endpoints: MeshEndpoint[];
      if (spec.endpoints && spec.endpoints.length > 0) {
        endpoints = spec.endpoints.map((e) => {
          const ep: MeshEndpoint = { address: e.address ?? hostname, port: e.ports?.[p.name] ?? target, labels: e.labels ?? {} };
          if (e.weight !== undefined) ep.weight = e.weight;
          if (e.locality !== undefined) ep.locality = e.locality;
          if (e.serviceAccount !== undefined) ep.serviceAccount = e.serviceAccount;
          return ep;
        });
      } else if (selected) {
        endpoints = workloadEndpoints(reg, ns, selected, target);
      } else if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && !isWildcard(hostname)) {
        endpoints = [{ address: hostname, port: p.number, labels: {} }];
      } else {
        endpoints = [];
      }
      return { name: p.name, port: p.number, protocol: meshProtocol(p.protocol), endpoints };
    });
    return {
      hostname,
      namespace: ns,
      addresses: spec.addresses ?? [],
      ports,
      resolution,
      location: spec.location ?? 'MESH_EXTERNAL',
      exportTo,
      origin: configKey(se),
    };
  });
}

/**
 * Workloads a ServiceEntry selects. The registry snapshot knows workloads only as the endpoints of
 * its services, so a workload is an endpoint address with its labels, in the entry's namespace.
 */
function workloadEndpoints(reg: RegistrySnapshot, ns: string, selector: Record<string, string>, port: number): MeshEndpoint[] {
  const seen = new Map<string, MeshEndpoint>();
  for (const s of reg.services) {
    if (s.namespace !== ns) continue;
    for (const p of s.ports) {
      for (const e of p.endpoints) {
        if (seen.has(e.address) || !labelsMatch(selector, e.labels)) continue;
        const ep: MeshEndpoint = { address: e.address, port, labels: e.labels };
        if (e.serviceAccount !== undefined) ep.serviceAccount = e.serviceAccount;
        seen.set(e.address, ep);
      }
    }
  }
  return [...seen.values()].sort((a, b) => a.address.localeCompare(b.address));
}
