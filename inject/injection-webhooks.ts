import { DEFAULT_NAMESPACE } from '../common/names.js';
import { INJECT_KEY, NAMESPACE_INJECTION_LABEL, REV_LABEL, neverInjectedNamespaces } from './labels.js';
import { matchesSelector, type LabelSelector, type LabelSelectorRequirement } from '../common/label-selectors.js';

/**
 * The apiserver-side selection of the shipped MutatingWebhookConfiguration, as data: the manifests
 * test and `tandem check-inject` read the same list, so what we explain is what we ship.
 */

/** One entry of the MutatingWebhookConfiguration's `webhooks` list, selection part only. */
export interface WebhookSelection {
  name: string;
  namespaceSelector: LabelSelector;
  objectSelector: LabelSelector;
}

/** Set by the apiserver on every namespace (Kubernetes >= 1.21). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * Istio's four injection webhooks for a revision: namespace label, revision
 * label on the namespace, revision label on the pod, and the pod's own opt-in in
 * an unlabelled namespace. `sidecar.istio.io/inject=false` on the pod excludes it
 * from all four, and the never-injected namespaces (`neverInjectedNamespaces`) are
 * excluded from all four, so the apiserver does not even call the webhook for them.
 */
export function injectionWebhooks(revision: string, neverInjected: readonly string[] = neverInjectedNamespaces(DEFAULT_NAMESPACE)): WebhookSelection[] {
  const excluded = (): LabelSelectorRequirement => ({ key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: [...neverInjected] });
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
  neverInjected?: readonly string[],
): WebhookSelection | undefined {
  return injectionWebhooks(revision, neverInjected).find(
    (h) => matchesSelector(h.namespaceSelector, namespaceLabels) && matchesSelector(h.objectSelector, podLabels),
  );
}
