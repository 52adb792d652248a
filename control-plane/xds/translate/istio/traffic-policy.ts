/**
 * The traffic policy that applies to one cluster, as Istio layers it: the rule's policy, its
 * portLevelSettings for the port, then the subset's policy and the subset's portLevelSettings — each
 * layer replacing loadBalancer, connectionPool, outlierDetection and tls wholesale where it sets them.
 */
import type { PortTrafficPolicy, Subset, TrafficPolicy } from '../../../../config/kinds.js';
import type { EffectiveDestinationRule } from '../../../model/destination-rules.js';

export type ClusterPolicy = Omit<PortTrafficPolicy, 'port'>;

function overlay(base: ClusterPolicy, top: ClusterPolicy | undefined): ClusterPolicy {
  if (!top) return base;
  const out: ClusterPolicy = { ...base };
  if (top.loadBalancer) out.loadBalancer = top.loadBalancer;
  if (top.connectionPool) out.connectionPool = top.connectionPool;
  if (top.outlierDetection) out.outlierDetection = top.outlierDetection;
  if (top.tls) out.tls = top.tls;
  return out;
}

function forPort(p: TrafficPolicy | undefined, port: number): ClusterPolicy {
  if (!p) return {};
  const { portLevelSettings, tunnel: _t, proxyProtocol: _pp, ...top } = p;
  return overlay(top, portLevelSettings?.find((s) => s.port?.number === port));
}

export function clusterPolicy(dr: EffectiveDestinationRule | undefined, port: number, subset?: Subset): ClusterPolicy {
  const base = forPort(dr?.trafficPolicy, port);
  return subset ? overlay(base, forPort(subset.trafficPolicy, port)) : base;
}
