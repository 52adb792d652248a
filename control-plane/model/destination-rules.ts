/**
 * The DestinationRule a proxy applies to a host, with Istio's lookup precedence: a rule in the proxy's
 * namespace whose workloadSelector selects the proxy, then the proxy's namespace, then the service's
 * namespace, then the root namespace — each visible to the proxy by exportTo, the most specific host
 * winning within a level. Several rules for the same host at one level are merged as Istio does:
 * subsets appended (a name already taken is dropped), the oldest rule's trafficPolicy kept.
 */
import type { DestinationRuleSpec, Subset, TrafficPolicy } from '../../config/kinds.js';
import { hostMatches, moreSpecific } from './hosts.js';
import type { MeshProxy } from './proxy.js';
import { labelsMatch } from './selectors.js';
import type { IndexedDestinationRule, MeshSnapshot } from './snapshot.js';
import { isVisible } from './visibility.js';

export interface EffectiveDestinationRule {
  /** the host the rule was written for (may be a wildcard) */
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets: readonly Subset[];
  /** configKeys of the rules merged here, oldest first */
  from: readonly string[];
}

function merge(rules: readonly IndexedDestinationRule[]): EffectiveDestinationRule {
  const subsets: Subset[] = [];
  let trafficPolicy: TrafficPolicy | undefined;
  for (const r of rules) {
    const spec: DestinationRuleSpec = r.config.spec;
    if (trafficPolicy === undefined && spec.trafficPolicy !== undefined) trafficPolicy = spec.trafficPolicy;
    for (const s of spec.subsets ?? []) if (!subsets.some((x) => x.name === s.name)) subsets.push(s);
  }
  const out: EffectiveDestinationRule = { host: rules[0]!.host, subsets, from: rules.map((r) => r.key) };
  if (trafficPolicy !== undefined) out.trafficPolicy = trafficPolicy;
  return out;
}

function pick(candidates: readonly IndexedDestinationRule[], host: string): EffectiveDestinationRule | undefined {
  const matching = candidates.filter((r) => hostMatches(r.host, host));
  if (matching.length === 0) return undefined;
  const best = [...matching].sort((a, b) => moreSpecific(a.host, b.host) || a.order - b.order)[0]!.host;
  return merge(matching.filter((r) => r.host === best).sort((a, b) => a.order - b.order));
}

export function destinationRuleFor(
  snapshot: MeshSnapshot,
  proxy: MeshProxy,
  host: string,
  serviceNamespace: string,
): EffectiveDestinationRule | undefined {
  const inNamespace = (ns: string): readonly IndexedDestinationRule[] =>
    (snapshot.destinationRulesByNamespace.get(ns) ?? []).filter((r) => isVisible(r.exportTo, r.namespace, proxy.namespace));
  const own = inNamespace(proxy.namespace);
  // A rule with a workloadSelector applies only to the workloads it selects in its own namespace.
  const levels: (() => readonly IndexedDestinationRule[])[] = [
    () => own.filter((r) => r.selector !== undefined && labelsMatch(r.selector, proxy.labels)),
    () => own.filter((r) => r.selector === undefined),
    () => inNamespace(serviceNamespace).filter((r) => r.selector === undefined),
    () => inNamespace(snapshot.options.rootNamespace).filter((r) => r.selector === undefined),
  ];
  for (const level of levels) {
    const found = pick(level(), host);
    if (found) return found;
  }
  return undefined;
}
