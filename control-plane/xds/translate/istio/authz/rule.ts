/**
 * One AuthorizationPolicy rule → one Envoy RBAC Policy (`permissions` OR-ed, `principals` OR-ed, the
 * policy matching when one of each matches), following Istio's model
 * (pilot/pkg/security/authz/model/model.go):
 * - each `to` is a permission, each `from` a principal (none → one matching anything); a permission
 *   (principal) is the AND of its fields, each field the OR of its values and the NOT of the OR of its
 *   notValues;
 * - `when` conditions are AND-ed into every permission (destination.*, connection.sni, Envoy filter
 *   metadata) or every principal (everything about the caller and the request);
 * - a value that cannot be expressed (an HTTP-only field on TCP, what proxyless gRPC cannot evaluate)
 *   drops the whole rule of an ALLOW policy (a smaller allow), but only that value of a DENY or AUDIT
 *   policy (a wider deny): both err on the side of refusing.
 */
import type { AuthorizationCondition, AuthorizationRule, AuthorizationSource } from '../../../../../config/kinds.js';
import type { Json } from '../envoy.js';
import { ATTRIBUTES, conditionAttribute, Unsupported, type AttributeContext, type AttributeKind, type AttributeName } from './attributes.js';
import { withTrustDomainAliases } from './trust-domain.js';

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

interface Test {
  key: string;
  attribute: AttributeName;
  values: readonly string[];
  notValues: readonly string[];
}

/** `serviceAccounts` is newer than the typed Source; validation already accepts it. */
type Source = AuthorizationSource & { serviceAccounts?: string[]; notServiceAccounts?: string[] };

function test(attribute: AttributeName, key: string, values: readonly string[] | undefined, notValues: readonly string[] | undefined): Test[] {
  const v = values ?? [];
  const n = notValues ?? [];
  return v.length === 0 && n.length === 0 ? [] : [{ key, attribute, values: v, notValues: n }];
}

function sourceTests(s: Source): Test[] {
  return [
    ...test('source.principal', 'source.principal', s.principals, s.notPrincipals),
    ...test('request.auth.principal', 'request.auth.principal', s.requestPrincipals, s.notRequestPrincipals),
    ...test('source.serviceAccount', 'source.serviceAccount', s.serviceAccounts, s.notServiceAccounts),
    ...test('source.namespace', 'source.namespace', s.namespaces, s.notNamespaces),
    ...test('remote.ip', 'remote.ip', s.remoteIpBlocks, s.notRemoteIpBlocks),
    ...test('source.ip', 'source.ip', s.ipBlocks, s.notIpBlocks),
  ];
}

function conditionTest(c: AuthorizationCondition): Test[] {
  const attribute = conditionAttribute(c.key);
  if (!attribute) throw new Unsupported(`unknown attribute ${c.key}`);
  return test(attribute, c.key, c.values, c.notValues);
}

export interface RuleModel {
  permissions: Test[][];
  principals: Test[][];
}

/** The rule's tests, grouped as Envoy will evaluate them. Throws Unsupported for an unknown `when` key. */
export function ruleModel(rule: AuthorizationRule, trustDomains: readonly string[]): RuleModel {
  const basePermission: Test[] = [];
  const basePrincipal: Test[] = [];
  for (const c of rule.when ?? []) {
    for (const t of conditionTest(c)) (ATTRIBUTES[t.attribute].side === 'permission' ? basePermission : basePrincipal).push(t);
  }
  const principals = (rule.from ?? []).map((f) => [...sourceTests(f.source ?? {}), ...basePrincipal]);
  const permissions = (rule.to ?? []).map((t) => {
    const o = t.operation ?? {};
    return [
      ...test('hosts', 'hosts', o.hosts, o.notHosts),
      ...test('methods', 'methods', o.methods, o.notMethods),
      ...test('paths', 'paths', o.paths, o.notPaths),
      ...test('destination.port', 'ports', o.ports, o.notPorts),
      ...basePermission,
    ];
  });
  const migrate = (list: Test[]): Test[] =>
    list.map((t) =>
      t.attribute === 'source.principal'
        ? { ...t, values: withTrustDomainAliases(t.values, trustDomains), notValues: withTrustDomainAliases(t.notValues, trustDomains) }
        : t,
    );
  return {
    permissions: permissions.length > 0 ? permissions : [basePermission],
    principals: (principals.length > 0 ? principals : [basePrincipal]).map(migrate),
  };
}

export interface GenerateContext extends AttributeContext {
  action: RbacAction;
  /** what could not be expressed and was dropped (DENY/AUDIT values) */
  notes: string[];
}

/** For ALLOW the error ends the rule; for DENY and AUDIT the value is left out and noted. */
function attempt(ctx: GenerateContext, f: () => Json): Json | undefined {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof Unsupported) || ctx.action === 'ALLOW') throw e;
    ctx.notes.push(`ignored ${e.message}`);
    return undefined;
  }
}

function or(side: 'permission' | 'principal', list: Json[]): Json {
  return side === 'permission' ? { or_rules: { rules: list } } : { or_ids: { ids: list } };
}

function not(side: 'permission' | 'principal', m: Json): Json {
  return side === 'permission' ? { not_rule: m } : { not_id: m };
}

function testMatchers(t: Test, ctx: GenerateContext): Json[] {
  const kind: AttributeKind = ATTRIBUTES[t.attribute];
  const out: Json[] = [];
  for (const [list, negate] of [[t.values, false], [t.notValues, true]] as const) {
    if (list.length === 0) continue;
    let m: Json | undefined;
    if (kind.all) {
      const all = kind.all;
      m = attempt(ctx, () => all(t.key, list, ctx));
    } else {
      const each = kind.each!;
      const ms = list.map((v) => attempt(ctx, () => each(t.key, v, ctx))).filter((x): x is Json => x !== undefined);
      m = ms.length > 0 ? or(kind.side, ms) : undefined;
    }
    if (m) out.push(negate ? not(kind.side, m) : m);
  }
  return out;
}

function and(side: 'permission' | 'principal', tests: Test[], ctx: GenerateContext): Json {
  const all = tests.flatMap((t) => testMatchers(t, ctx));
  if (all.length === 0) all.push({ any: true });
  return side === 'permission' ? { and_rules: { rules: all } } : { and_ids: { ids: all } };
}

/** The Envoy Policy of a rule model. Throws Unsupported when an ALLOW rule cannot be expressed. */
export function generatePolicy(model: RuleModel, ctx: GenerateContext): Json {
  return {
    permissions: model.permissions.map((p) => and('permission', p, ctx)),
    principals: model.principals.map((p) => and('principal', p, ctx)),
  };
}

/** A policy that matches nothing: what an AuthorizationPolicy without rules contributes. */
export const MATCH_NEVER: Json = Object.freeze({
  permissions: [{ not_rule: { any: true } }],
  principals: [{ not_id: { any: true } }],
});
