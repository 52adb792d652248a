import type { Endpoint, Service, ServicePort } from '../../registry/types.js';
import { outboundClusterName, serviceHost, type Json, type TranslateOptions } from './common.js';

/** Endpoints (EDS), pure. */

const REGION = 'topology.kubernetes.io/region';
const ZONE = 'topology.kubernetes.io/zone';

/** The ClusterLoadAssignment of one service port: one locality per (region, zone) label pair. */
export function loadAssignment(s: Service, p: ServicePort, o: TranslateOptions): Json {
  const groups = new Map<string, { region: string; zone: string; eps: Endpoint[] }>();
  const seen = new Set<string>();
  for (const e of p.endpoints) {
    const key = `${e.address}|${e.port}`;
    if (seen.has(key)) continue; // a duplicate address is an error for gRPC clients
    seen.add(key);
    const region = e.labels[REGION] ?? '';
    const zone = e.labels[ZONE] ?? '';
    const g = groups.get(`${region}/${zone}`) ?? { region, zone, eps: [] };
    g.eps.push(e);
    groups.set(`${region}/${zone}`, g);
  }
  const endpoints = [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, g]) => {
      const locality: Json = {};
      if (g.region) locality['region'] = g.region;
      if (g.zone) locality['zone'] = g.zone;
      return {
        locality,
        load_balancing_weight: g.eps.length,
        lb_endpoints: g.eps.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          load_balancing_weight: 1,
        })),
      };
    });
  return { cluster_name: outboundClusterName(p.port, serviceHost(s, o)), endpoints };
}
