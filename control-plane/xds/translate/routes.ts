import { isIP } from 'node:net';
import { byName, type Service, type ServicePort } from '../../registry/types.js';
import { isHttp, outboundClusterName, PASSTHROUGH_CLUSTER, serviceHost, type Json, type TranslateOptions } from './common.js';

/** Route configurations (RDS), pure. */

/** The names a client in `fromNamespace` may use for a service port, most specific first. */
export function serviceDomains(s: Service, p: ServicePort, fromNamespace: string, o: TranslateOptions): string[] {
  const names = [serviceHost(s, o), `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}`];
  if (s.namespace === fromNamespace) names.push(s.name);
  names.push(...s.addresses);
  return names.flatMap((n) => [n, `${isIP(n) === 6 ? `[${n}]` : n}:${p.port}`]);
}

function virtualHost(name: string, domains: string[], cluster: string, timeout?: string): Json {
  const route: Json = { cluster };
  if (timeout) route['timeout'] = timeout;
  return { name, domains, routes: [{ name: 'default', match: { prefix: '/' }, route }] };
}

/**
 * Sidecar route configurations, one per HTTP service port number, each with one
 * virtual host per service on that port and a catch-all to the passthrough cluster.
 * Short names depend on the proxy's namespace, hence the parameter.
 */
export function sidecarRouteConfigs(services: readonly Service[], fromNamespace: string, o: TranslateOptions): Json[] {
  const byPort = new Map<number, Json[]>();
  const claimed = new Map<number, Set<string>>();
  for (const s of [...services].sort(byName)) {
    for (const p of s.ports) {
      if (!isHttp(p)) continue;
      const taken = claimed.get(p.port) ?? new Set<string>();
      claimed.set(p.port, taken);
      // Envoy rejects a domain claimed by two virtual hosts; the first service (by namespace/name) keeps it.
      const domains = serviceDomains(s, p, fromNamespace, o).filter((d) => !taken.has(d));
      domains.forEach((d) => taken.add(d));
      const host = serviceHost(s, o);
      const list = byPort.get(p.port) ?? [];
      // timeout 0s: no route timeout, so long-lived gRPC streams are not cut at Envoy's 15 s default
      list.push(virtualHost(`${host}:${p.port}`, domains, outboundClusterName(p.port, host), '0s'));
      byPort.set(p.port, list);
    }
  }
  return [...byPort.entries()]
    .sort(([a], [b]) => a - b)
    .map(([port, vhosts]) => ({
      name: String(port),
      virtual_hosts: [...vhosts, virtualHost('allow_any', ['*'], PASSTHROUGH_CLUSTER, '0s')],
      validate_clusters: false,
    }));
}

/** The route configuration of one proxyless-gRPC API listener `<fqdn>:<port>`. */
export function apiRouteConfig(s: Service, p: ServicePort, o: TranslateOptions): Json {
  const host = serviceHost(s, o);
  const name = `${host}:${p.port}`;
  return { name, virtual_hosts: [virtualHost(name, [name, host], outboundClusterName(p.port, host))] };
}
