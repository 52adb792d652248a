import { isObject } from './objects.js';

/**
 * Kubernetes label selectors: their shape (as read from config) and their matching semantics.
 * The shipped webhook configuration's selectors, as data, are in injection-webhooks.ts.
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
  if (!isObject(sel)) return 'must be a mapping with matchLabels and/or matchExpressions';
  const s = sel;
  for (const k of Object.keys(s)) {
    if (k !== 'matchLabels' && k !== 'matchExpressions') return `unknown field "${k}"`;
  }
  if (s.matchLabels !== undefined) {
    if (!isObject(s.matchLabels)) return 'matchLabels must be a mapping';
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
