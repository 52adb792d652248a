/**
 * A VirtualService destination resolved for one proxy: its host in the VirtualService's namespace,
 * its port (the one written; else the service's only port; else the port being routed), Istio's
 * cluster name, and the consistent-hash setting its DestinationRule gives that cluster.
 */
import type { ConsistentHashLB, Destination } from '../../../../config/kinds.js';
import { destinationRuleFor } from '../../../model/destination-rules.js';
import { hostMatches, resolveHost } from '../../../model/hosts.js';
import type { ProxyView } from '../../../model/proxy-view.js';
import type { MeshService } from '../../../model/services.js';
import type { MeshSnapshot } from '../../../model/snapshot.js';
import { outboundCluster } from './envoy.js';
import { clusterPolicy } from './traffic-policy.js';

export interface ResolvedDestination {
  host: string;
  port: number;
  subset?: string;
  cluster: string;
  consistentHash?: ConsistentHashLB;
}

export function serviceForHost(snapshot: MeshSnapshot, host: string): MeshService | undefined {
  return snapshot.servicesByHost.get(host)?.[0] ?? snapshot.wildcardServices.find((s) => hostMatches(s.hostname, host));
}

export function resolveDestination(snapshot: MeshSnapshot, view: ProxyView, vsNamespace: string, d: Destination, routedPort: number): ResolvedDestination {
  const host = resolveHost(d.host, vsNamespace, snapshot.options.clusterDomain);
  const svc = serviceForHost(snapshot, host);
  const port = d.port?.number ?? (svc && svc.ports.length === 1 ? svc.ports[0]!.port : routedPort);
  const out: ResolvedDestination = { host, port, cluster: outboundCluster(port, d.subset, host) };
  if (d.subset) out.subset = d.subset;
  const dr = view.destinationRules.get(host) ?? (svc ? destinationRuleFor(snapshot, view.proxy, host, svc.namespace) : undefined);
  const subset = d.subset ? dr?.subsets.find((s) => s.name === d.subset) : undefined;
  const ch = clusterPolicy(dr, port, subset).loadBalancer?.consistentHash;
  if (ch) out.consistentHash = ch;
  return out;
}
