/** The strict Envoy-proto checker over every resource of a proxy (the bundle holds every proto the Istio translation references). */
import { checkProtoJson, type ProtoJsonIssue } from '../../../control-plane/proto/json.js';
import type { ProxyResources } from '../../../control-plane/xds/translate/istio/translate.js';

export const TYPES = {
  listeners: 'envoy.config.listener.v3.Listener',
  routes: 'envoy.config.route.v3.RouteConfiguration',
  clusters: 'envoy.config.cluster.v3.Cluster',
  endpoints: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;

export function check(kind: keyof typeof TYPES, json: unknown): ProtoJsonIssue[] {
  return checkProtoJson(TYPES[kind], json);
}

/** Every issue of every resource, prefixed with the resource's kind and name. */
export function checkAll(r: ProxyResources): string[] {
  const out: string[] = [];
  for (const kind of Object.keys(TYPES) as (keyof typeof TYPES)[]) {
    for (const res of r[kind]) {
      const name = String(res['name'] ?? res['cluster_name'] ?? '?');
      for (const i of check(kind, res)) out.push(`${kind} ${name}: ${i.path}: ${i.message}`);
    }
  }
  return out;
}
