/**
 * AuthorizationPolicy → the Envoy RBAC filters of one inbound filter chain (pure). The inbound
 * listener builder puts what `authorizationFilters` returns before the router (HTTP: HCM http_filters)
 * or before tcp_proxy (TCP: network filters).
 *
 * Evaluation order is Istio's: AUDIT (RBAC action LOG: marks, never refuses), then DENY, then ALLOW;
 * no ALLOW policy means allowed, an ALLOW filter whose policies match nothing refuses.
 *
 * Proxyless gRPC (gRFC A41, @grpc/grpc-js-xds behind GRPC_XDS_EXPERIMENTAL_RBAC=true) gets a subset,
 * because its RBAC filter NACKs the whole listener on what it cannot evaluate: no AUDIT filter (it
 * refuses action LOG), no dry-run policies (it reads only `rules` and refuses an RBAC without them),
 * filter names unique within the HCM (Istio's proxyless names: `envoy.filters.http.rbac.DENY`,
 * `envoy.filters.http.rbac`), and the attributes it cannot evaluate (SNI, Envoy filter metadata, URI
 * templates, addresses: attributes.ts) treated as an HTTP-only field on TCP is: an ALLOW rule using
 * them is dropped, a DENY rule ignores them. Unlike Istio's proxyless generator, an ALLOW policy with no rules still denies.
 */
import type { Logger } from '../../../../../common/logger.js';
import { selectAuthorizationPolicies, type AuthorizationWorkload } from '../../../../model/authorization-policies.js';
import type { MeshSnapshot } from '../../../../model/snapshot.js';
import { T, type Json } from '../envoy.js';
import { buildRules, shadowStatPrefix, type BuildContext, type BuiltRules } from './rbac.js';
import type { RbacAction } from './rule.js';

export const HTTP_RBAC_TYPE = `${T}envoy.extensions.filters.http.rbac.v3.RBAC`;
export const NETWORK_RBAC_TYPE = `${T}envoy.extensions.filters.network.rbac.v3.RBAC`;
export const HTTP_RBAC_FILTER = 'envoy.filters.http.rbac';
export const NETWORK_RBAC_FILTER = 'envoy.filters.network.rbac';
/** proxyless gRPC refuses two HTTP filters of one name: Istio's grpcgen names the DENY one so */
export const PROXYLESS_DENY_FILTER = 'envoy.filters.http.rbac.DENY';
export const TCP_STAT_PREFIX = 'tcp.';
/** Istio's suffix for the rules of a CUSTOM policy it cannot serve, enforced as DENY (fail closed) */
export const BAD_CUSTOM_SUFFIX = '-deny-due-to-bad-CUSTOM-action';

export interface AuthorizationOptions {
  protocol: 'http' | 'tcp';
  proxyless: boolean;
  /** the inbound port of the chain (for the notes; Envoy itself tests destination ports) */
  port: number;
  /** MeshConfig trustDomainAliases */
  trustDomainAliases?: readonly string[];
}

export interface AuthorizationResult {
  /** the RBAC filters, in evaluation order; empty when no policy applies */
  filters: Json[];
  /** rules skipped or values ignored, and why */
  notes: string[];
}

function withSuffix(rules: Json | undefined, suffix: string): Record<string, Json> {
  const policies = (rules?.['policies'] ?? {}) as Record<string, Json>;
  return Object.fromEntries(Object.entries(policies).map(([k, v]) => [k + suffix, v]));
}

function httpFilter(name: string, action: RbacAction, built: BuiltRules): Json {
  const cfg: Json = { '@type': HTTP_RBAC_TYPE };
  if (built.rules) cfg['rules'] = built.rules;
  if (built.shadowRules) {
    cfg['shadow_rules'] = built.shadowRules;
    const prefix = shadowStatPrefix(action);
    if (prefix) cfg['shadow_rules_stat_prefix'] = prefix;
  }
  return { name, typed_config: cfg };
}

function networkFilter(action: RbacAction, built: BuiltRules): Json {
  const cfg: Json = { '@type': NETWORK_RBAC_TYPE, stat_prefix: TCP_STAT_PREFIX };
  if (built.rules) cfg['rules'] = built.rules;
  if (built.shadowRules) {
    cfg['shadow_rules'] = built.shadowRules;
    const prefix = shadowStatPrefix(action);
    if (prefix) cfg['shadow_rules_stat_prefix'] = prefix;
  }
  return { name: NETWORK_RBAC_FILTER, typed_config: cfg };
}

export function authorization(
  snapshot: Pick<MeshSnapshot, 'configs' | 'options'>,
  workload: AuthorizationWorkload,
  opts: AuthorizationOptions,
): AuthorizationResult {
  const selected = selectAuthorizationPolicies(snapshot.configs.values(), workload, snapshot.options.rootNamespace);
  const proxyless = opts.proxyless;
  // proxyless gRPC servers speak HTTP/2 only: there is no TCP chain to protect
  const forTcp = !proxyless && opts.protocol === 'tcp';
  const ctx: BuildContext = {
    forTcp,
    proxyless,
    trustDomains: [snapshot.options.trustDomain, ...(opts.trustDomainAliases ?? [])],
    notes: [],
  };
  const groups: [RbacAction, BuiltRules | undefined][] = [];
  if (proxyless) {
    if (selected.audit.length > 0) ctx.notes.push(`AUDIT policies left out: proxyless gRPC refuses RBAC action LOG (${selected.audit.map((p) => `${p.namespace}/${p.name}`).join(', ')})`);
  } else {
    groups.push(['LOG', buildRules(selected.audit, 'LOG', ctx)]);
  }
  let deny = buildRules(selected.deny, 'DENY', ctx);
  if (selected.custom.length > 0) {
    // CUSTOM needs an ext_authz provider tandem does not have: its rules deny, as Istio fails closed
    const custom = buildRules(selected.custom.map((p) => ({ ...p, annotations: {} })), 'DENY', ctx);
    ctx.notes.push(`CUSTOM policies enforced as DENY (no external authorization provider): ${selected.custom.map((p) => `${p.namespace}/${p.name}`).join(', ')}`);
    deny = { ...deny, rules: { action: 'DENY', policies: { ...withSuffix(custom?.rules, BAD_CUSTOM_SUFFIX), ...((deny?.rules?.['policies'] as Json | undefined) ?? {}) } } };
  }
  groups.push(['DENY', deny], ['ALLOW', buildRules(selected.allow, 'ALLOW', ctx)]);
  const filters: Json[] = [];
  for (const [action, built] of groups) {
    if (!built) continue;
    if (proxyless) {
      if (built.shadowRules) ctx.notes.push(`dry-run ${action} policies left out: proxyless gRPC does not evaluate shadow rules`);
      if (!built.rules) continue;
      filters.push(httpFilter(action === 'DENY' ? PROXYLESS_DENY_FILTER : HTTP_RBAC_FILTER, action, { rules: built.rules }));
    } else {
      filters.push(forTcp ? networkFilter(action, built) : httpFilter(HTTP_RBAC_FILTER, action, built));
    }
  }
  return { filters, notes: ctx.notes };
}

/**
 * The RBAC filters for one inbound chain of a workload: HTTP filters (`protocol: 'http'`, and always
 * for proxyless) or network filters (`protocol: 'tcp'`). What had to be skipped is logged at debug,
 * as Istio logs it.
 */
export function authorizationFilters(
  snapshot: Pick<MeshSnapshot, 'configs' | 'options'>,
  workload: AuthorizationWorkload,
  opts: AuthorizationOptions & { logger?: Logger },
): Json[] {
  const { filters, notes } = authorization(snapshot, workload, opts);
  for (const note of notes) opts.logger?.debug({ namespace: workload.namespace, port: opts.port, protocol: opts.protocol, proxyless: opts.proxyless }, `authorization: ${note}`);
  return filters;
}
