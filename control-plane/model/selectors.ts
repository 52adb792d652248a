import { isObject } from '../../common/objects.js';
/** Label selection as Kubernetes and Istio's workloadSelector define it: every listed label equal. */
export function labelsMatch(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** An empty or absent workloadSelector selects nothing in particular (the object is namespace-wide). */
export function hasSelector(selector: { matchLabels?: Record<string, string> } | undefined): boolean {
  return selector !== undefined && selector.matchLabels !== undefined && Object.keys(selector.matchLabels).length > 0;
}

/**
 * A Sidecar's (and a ServiceEntry's) workloadSelector is networking's WorkloadSelector, whose field is
 * `labels` (the CRD schema); DestinationRule's is type.v1beta1's, with `matchLabels`.
 */
export function networkingSelector(selector: unknown): Readonly<Record<string, string>> | undefined {
  if (!isObject(selector)) return undefined;
  const labels = isObject(selector['labels']) ? selector['labels'] : isObject(selector['matchLabels']) ? selector['matchLabels'] : undefined;
  return labels ? Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string')) : undefined;
}
