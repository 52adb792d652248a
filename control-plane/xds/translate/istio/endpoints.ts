/**
 * ClusterLoadAssignments: the endpoints of one service port, restricted to a subset's labels, grouped
 * by locality (a ServiceEntry endpoint's `region/zone/subzone`, else the Kubernetes topology labels).
 * Endpoint weights are ServiceEntry weights (1 when absent); a locality weighs the sum of its endpoints.
 */
import { isIP } from 'node:net';
import type { MeshEndpoint } from '../../../model/services.js';
import { labelsMatch } from '../../../model/selectors.js';
import type { Json } from './envoy.js';
import { endpointTlsMetadata } from './mtls.js';

const REGION = 'topology.kubernetes.io/region';
const ZONE = 'topology.kubernetes.io/zone';

function locality(e: MeshEndpoint): { region: string; zone: string; sub_zone: string } {
  if (e.locality) {
    const [region = '', zone = '', sub_zone = ''] = e.locality.split('/');
    return { region, zone, sub_zone };
  }
  return { region: e.labels[REGION] ?? '', zone: e.labels[ZONE] ?? '', sub_zone: '' };
}

export function subsetEndpoints(endpoints: readonly MeshEndpoint[], labels: Readonly<Record<string, string>> | undefined): MeshEndpoint[] {
  const seen = new Set<string>();
  return endpoints.filter((e) => {
    const key = `${e.address}|${e.port}`;
    if (seen.has(key) || !labelsMatch(labels, e.labels)) return false; // a duplicate address is an error for gRPC clients
    seen.add(key);
    return true;
  });
}

export function loadAssignment(clusterName: string, endpoints: readonly MeshEndpoint[]): Json {
  const groups = new Map<string, { loc: ReturnType<typeof locality>; eps: MeshEndpoint[] }>();
  for (const e of endpoints) {
    const loc = locality(e);
    const key = `${loc.region}/${loc.zone}/${loc.sub_zone}`;
    const g = groups.get(key) ?? { loc, eps: [] };
    g.eps.push(e);
    groups.set(key, g);
  }
  const out = [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, g]) => {
      const loc: Json = {};
      if (g.loc.region) loc['region'] = g.loc.region;
      if (g.loc.zone) loc['zone'] = g.loc.zone;
      if (g.loc.sub_zone) loc['sub_zone'] = g.loc.sub_zone;
      return {
        locality: loc,
        load_balancing_weight: g.eps.reduce((n, e) => n + (e.weight ?? 1), 0),
        lb_endpoints: g.eps.map((e) => {
          const lb: Json = { endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } } };
          // auto mTLS: a sidecar's transport_socket_matches pick mTLS for endpoints with this metadata
          const metadata = endpointTlsMetadata(e);
          if (metadata) lb['metadata'] = metadata;
          lb['load_balancing_weight'] = e.weight ?? 1;
          return lb;
        }),
      };
    });
  return { cluster_name: clusterName, endpoints: out };
}

/** Whether an endpoint address is an IP (EDS) or a name only DNS clusters can use. */
export function isIpAddress(a: string): boolean {
  return isIP(a) !== 0;
}
