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
