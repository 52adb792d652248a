/**
 * The policies of one action → Envoy RBAC `rules` (enforced) and `shadow_rules` (the policies
 * annotated `istio.io/dry-run: "true"`, evaluated and counted but never enforced), as Istio's builder
 * does (pilot/pkg/security/authz/builder/builder.go): one Envoy policy per rule, named
 * `ns[<namespace>]-policy[<name>]-rule[<index>]`; a policy without rules contributes one policy that
 * matches nothing (so an ALLOW policy with no rules leaves the workload denied); a rule that cannot be
 * expressed is skipped and noted.
 */
import type { SelectedAuthorizationPolicy } from '../../../../model/authorization-policies.js';
import type { Json } from '../envoy.js';
import { Unsupported } from './attributes.js';
import { generatePolicy, MATCH_NEVER, ruleModel, type GenerateContext, type RbacAction } from './rule.js';

export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

export interface BuildContext {
  forTcp: boolean;
  proxyless: boolean;
  /** the mesh trust domain first, then its aliases */
  trustDomains: readonly string[];
  /** what was skipped or ignored, for the log */
  notes: string[];
}

export interface BuiltRules {
  rules?: Json;
  shadowRules?: Json;
}

/** Go's strconv.ParseBool, which reads the annotation in Istio. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function isDryRun(p: SelectedAuthorizationPolicy, notes: string[]): boolean {
  const v = p.annotations[DRY_RUN_ANNOTATION];
  if (v === undefined) return false;
  const b = parseBool(v);
  if (b === undefined) notes.push(`${p.namespace}/${p.name}: ignored ${DRY_RUN_ANNOTATION}="${v}" (not a boolean)`);
  return b ?? false;
}

export function policyName(namespace: string, name: string, rule: number): string {
  return `ns[${namespace}]-policy[${name}]-rule[${rule}]`;
}

export function buildRules(policies: readonly SelectedAuthorizationPolicy[], action: RbacAction, ctx: BuildContext): BuiltRules | undefined {
  if (policies.length === 0) return undefined;
  const enforced: Record<string, Json> = {};
  const shadow: Record<string, Json> = {};
  let anyEnforced = false;
  let anyShadow = false;
  for (const p of policies) {
    const dryRun = isDryRun(p, ctx.notes);
    const target = dryRun ? shadow : enforced;
    if (dryRun) anyShadow = true;
    else anyEnforced = true;
    const rules = p.spec.rules ?? [];
    rules.forEach((rule, i) => {
      const name = policyName(p.namespace, p.name, i);
      if (rule === null || typeof rule !== 'object') {
        ctx.notes.push(`skipped rule ${name}: not an object`);
        return;
      }
      const gen: GenerateContext = { action, forTcp: ctx.forTcp, proxyless: ctx.proxyless, policyNamespace: p.namespace, notes: [] };
      try {
        target[name] = generatePolicy(ruleModel(rule, ctx.trustDomains), gen);
        ctx.notes.push(...gen.notes.map((n) => `rule ${name}: ${n}`));
      } catch (e) {
        if (!(e instanceof Unsupported)) throw e;
        ctx.notes.push(`skipped rule ${name}: ${e.message}`);
      }
    });
    if (rules.length === 0) target[policyName(p.namespace, p.name, 0)] = MATCH_NEVER;
  }
  const out: BuiltRules = {};
  if (anyEnforced) out.rules = { action, policies: enforced };
  if (anyShadow) out.shadowRules = { action, policies: shadow };
  return out;
}

/** Istio's stat prefix for dry-run rules, by action (none for AUDIT). */
export function shadowStatPrefix(action: RbacAction): string | undefined {
  return action === 'ALLOW' ? 'istio_dry_run_allow_' : action === 'DENY' ? 'istio_dry_run_deny_' : undefined;
}
