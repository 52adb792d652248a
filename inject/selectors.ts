import { INJECT_KEY, NAMESPACE_INJECTION_LABEL, REV_LABEL } from './labels.js';

/**
 * Kubernetes label selectors, and the apiserver-side selection of the shipped
 * MutatingWebhookConfiguration as data: the manifests generator and
 * `tandem check-inject` read the same list, so what we explain is what we ship.
 */
export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** Kubernetes semantics: every matchLabels entry and every expression must hold; an empty selector matches everything. */
export function matchesSelector(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (l[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, req.key);
    const value = l[req.key];
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        // A missing label satisfies NotIn, as in Kubernetes.
        if (has && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export const SELECTOR_OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Checks the shape of a selector read from config; returns a problem description or undefined. */
export function selectorProblem(sel: unknown): string | undefined {
  if (typeof sel !== 'object' || sel === null || Array.isArray(sel)) return 'must be a mapping with matchLabels and/or matchExpressions';
  const s = sel as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (k !== 'matchLabels' && k !== 'matchExpressions') return `unknown field "${k}"`;
  }
  if (s.matchLabels !== undefined) {
    if (typeof s.matchLabels !== 'object' || s.matchLabels === null || Array.isArray(s.matchLabels)) return 'matchLabels must be a mapping';
    for (const [k, v] of Object.entries(s.matchLabels)) {
      if (typeof v !== 'string') return `matchLabels.${k} must be a string`;
    }
  }
  if (s.matchExpressions !== undefined) {
    if (!Array.isArray(s.matchExpressions)) return 'matchExpressions must be a list';
    for (const [i, e] of s.matchExpressions.entries()) {
      if (typeof e !== 'object' || e === null) return `matchExpressions[${i}] must be a mapping`;
      const r = e as Record<string, unknown>;
      if (typeof r.key !== 'string' || r.key === '') return `matchExpressions[${i}].key must be a non-empty string`;
      if (!SELECTOR_OPERATORS.includes(r.operator as SelectorOperator)) {
        return `matchExpressions[${i}].operator must be one of ${SELECTOR_OPERATORS.join(', ')}`;
      }
      const vals = r.values;
      if (vals !== undefined && (!Array.isArray(vals) || vals.some((v) => typeof v !== 'string'))) return `matchExpressions[${i}].values must be a list of strings`;
      const n = Array.isArray(vals) ? vals.length : 0;
      if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0) return `matchExpressions[${i}] (${String(r.operator)}) needs values`;
      if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0) return `matchExpressions[${i}] (${String(r.operator)}) takes no values`;
    }
  }
  return undefined;
}

/** One entry of the MutatingWebhookConfiguration's `webhooks` list, selection part only. */
export interface WebhookSelection {
  name: string;
  namespaceSelector: LabelSelector;
  objectSelector: LabelSelector;
}

/**
 * Istio's four injection webhooks for a revision: namespace label, revision
 * label on the namespace, revision label on the pod, and the pod's own opt-in in
 * an unlabelled namespace. `sidecar.istio.io/inject=false` on the pod excludes it
 * from all four.
 */
/** Namespaces the apiserver never sends: Kubernetes' own and tandem's (so tandem can start before its certificate is in place). */
export const WEBHOOK_EXCLUDED_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'tandem-system'];
/** Set by the apiserver on every namespace (Kubernetes >= 1.21). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export function injectionWebhooks(revision: string): WebhookSelection[] {
  const excluded = (): LabelSelectorRequirement => ({ key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: [...WEBHOOK_EXCLUDED_NAMESPACES] });
  const notOptedOut: LabelSelectorRequirement = { key: INJECT_KEY, operator: 'NotIn', values: ['false'] };
  const nsUnlabelled: LabelSelectorRequirement[] = [
    { key: REV_LABEL, operator: 'DoesNotExist' },
    { key: NAMESPACE_INJECTION_LABEL, operator: 'DoesNotExist' },
  ];
  const hooks: WebhookSelection[] = [
    {
      name: 'rev.namespace.sidecar-injector.istio.io',
      namespaceSelector: { matchExpressions: [{ key: REV_LABEL, operator: 'In', values: [revision] }, { key: NAMESPACE_INJECTION_LABEL, operator: 'DoesNotExist' }, excluded()] },
      objectSelector: { matchExpressions: [notOptedOut] },
    },
    {
      name: 'rev.object.sidecar-injector.istio.io',
      namespaceSelector: { matchExpressions: [...nsUnlabelled.map((r) => ({ ...r })), excluded()] },
      objectSelector: { matchExpressions: [{ ...notOptedOut, values: ['false'] }, { key: REV_LABEL, operator: 'In', values: [revision] }] },
    },
  ];
  // Only the default revision answers the revision-less labels.
  if (revision === 'default') {
    hooks.push(
      {
        name: 'namespace.sidecar-injector.istio.io',
        namespaceSelector: { matchExpressions: [{ key: NAMESPACE_INJECTION_LABEL, operator: 'In', values: ['enabled'] }, excluded()] },
        objectSelector: { matchExpressions: [{ ...notOptedOut, values: ['false'] }] },
      },
      {
        name: 'object.sidecar-injector.istio.io',
        namespaceSelector: { matchExpressions: [{ key: NAMESPACE_INJECTION_LABEL, operator: 'DoesNotExist' }, { key: REV_LABEL, operator: 'DoesNotExist' }, excluded()] },
        objectSelector: { matchExpressions: [{ key: INJECT_KEY, operator: 'In', values: ['true'] }, { key: REV_LABEL, operator: 'DoesNotExist' }] },
      },
    );
  }
  return hooks;
}

/** Which shipped webhook (if any) the apiserver would call for a pod with these labels in a namespace with those. */
export function matchingWebhook(
  revision: string,
  namespaceLabels: Record<string, string> | undefined,
  podLabels: Record<string, string> | undefined,
): WebhookSelection | undefined {
  return injectionWebhooks(revision).find(
    (h) => matchesSelector(h.namespaceSelector, namespaceLabels) && matchesSelector(h.objectSelector, podLabels),
  );
}
