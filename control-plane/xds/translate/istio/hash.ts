/**
 * Consistent hashing is split across two resources in Envoy: the cluster gets the ring-hash or
 * maglev lb policy (clusters.ts), the route gets the hash policy that says what to hash (here).
 */
import type { ConsistentHashLB } from '../../../../config/kinds.js';
import { duration, type Json } from './envoy.js';

export function hashPolicy(h: ConsistentHashLB | undefined): Json[] | undefined {
  if (!h) return undefined;
  if (h.httpHeaderName !== undefined) return [{ header: { header_name: h.httpHeaderName } }];
  if (h.httpCookie) {
    const cookie: Json = { name: h.httpCookie.name };
    if (h.httpCookie.ttl) cookie['ttl'] = duration(h.httpCookie.ttl);
    if (h.httpCookie.path) cookie['path'] = h.httpCookie.path;
    return [{ cookie }];
  }
  if (h.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (h.httpQueryParameterName !== undefined) return [{ query_parameter: { name: h.httpQueryParameterName } }];
  return undefined;
}
