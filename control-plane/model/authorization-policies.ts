/**
 * Which AuthorizationPolicies apply to a workload, grouped by action, as Istio selects them
 * (pilot/pkg/model/authorization.go and policyattachment.go): policies of the root namespace first,
 * then of the workload's own namespace, each namespace in creation order; a policy without a selector
 * applies to every workload of its namespace (mesh-wide in the root namespace), one with a selector to
 * the workloads whose labels contain it (in any namespace when it lives in the root namespace).
 *
 * `targetRef`/`targetRefs` attach a policy to a Gateway, GatewayClass, Service or ServiceEntry (Gateway
 * API gateways and ambient waypoints): never to a sidecar or a proxyless workload, so such policies are
 * left out here as Istio leaves them out for sidecars.
 */
import { isKind, type AuthorizationPolicySpec } from '../../config/kinds.js';
import type { ConfigObject } from '../../config/model.js';
import { labelsMatch } from './selectors.js';

export interface SelectedAuthorizationPolicy {
  namespace: string;
  name: string;
  annotations: Readonly<Record<string, string>>;
  spec: AuthorizationPolicySpec;
}

export interface WorkloadAuthorizationPolicies {
  allow: SelectedAuthorizationPolicy[];
  deny: SelectedAuthorizationPolicy[];
  audit: SelectedAuthorizationPolicy[];
  /** CUSTOM policies (refused by validation; present only when something bypassed it) */
  custom: SelectedAuthorizationPolicy[];
}

export interface AuthorizationWorkload {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

function targeted(spec: AuthorizationPolicySpec): boolean {
  return (spec.targetRefs?.length ?? 0) > 0 || spec.targetRef !== undefined;
}

function selects(spec: AuthorizationPolicySpec, labels: Readonly<Record<string, string>>): boolean {
  return labelsMatch(spec.selector?.matchLabels, labels);
}

/**
 * `configs` in creation order (a MeshSnapshot's `configs` are); objects of other kinds are ignored.
 * An object without a namespace is in `default`, as the snapshot places it.
 */
export function selectAuthorizationPolicies(
  configs: Iterable<ConfigObject>,
  workload: AuthorizationWorkload,
  rootNamespace: string,
): WorkloadAuthorizationPolicies {
  const root: SelectedAuthorizationPolicy[] = [];
  const own: SelectedAuthorizationPolicy[] = [];
  for (const c of configs) {
    if (!isKind(c, 'AuthorizationPolicy')) continue;
    const ns = c.metadata.namespace ?? 'default';
    if (ns !== rootNamespace && ns !== workload.namespace) continue;
    const spec = c.spec ?? {};
    if (targeted(spec) || !selects(spec, workload.labels)) continue;
    const p = { namespace: ns, name: c.metadata.name, annotations: c.metadata.annotations ?? {}, spec };
    (ns === rootNamespace ? root : own).push(p);
  }
  const out: WorkloadAuthorizationPolicies = { allow: [], deny: [], audit: [], custom: [] };
  for (const p of [...root, ...own]) {
    switch (p.spec.action ?? 'ALLOW') {
      case 'ALLOW':
        out.allow.push(p);
        break;
      case 'DENY':
        out.deny.push(p);
        break;
      case 'AUDIT':
        out.audit.push(p);
        break;
      case 'CUSTOM':
        out.custom.push(p);
        break;
    }
  }
  return out;
}
