/**
 * The wire size of a proxy's resources: each resource encoded as the protobuf an xDS response carries
 * (through the strict checker, so a resource Envoy would reject cannot be counted).
 */
import { encodeProtoJson } from '../../../proto/json.js';
import type { ProxyResources } from './translate.js';

const TYPES = {
  listeners: 'envoy.config.listener.v3.Listener',
  routes: 'envoy.config.route.v3.RouteConfiguration',
  clusters: 'envoy.config.cluster.v3.Cluster',
  endpoints: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;

export type ResourceBytes = Record<keyof ProxyResources, number> & { total: number };

export function resourceBytes(r: ProxyResources): ResourceBytes {
  const out = { listeners: 0, routes: 0, clusters: 0, endpoints: 0, total: 0 };
  for (const kind of Object.keys(TYPES) as (keyof typeof TYPES)[]) {
    for (const res of r[kind]) out[kind] += encodeProtoJson(TYPES[kind], res).length;
    out.total += out[kind];
  }
  return out;
}
