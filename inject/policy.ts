import type { InjectorConfig } from './config.js';
import { NAMESPACE_NAME_LABEL, matchingWebhook } from './injection-webhooks.js';
import { INJECT_KEY, STATUS_ANNOTATION, parseIstioBool } from './labels.js';
import { matchesSelector } from '../common/label-selectors.js';
import type { Decision, InjectionContext, NamespaceFacts, Pod } from './types.js';

/**
 * The webhook's own injection policy (the apiserver's selectors ran before it):
 * a pure function of the pod, the namespace and the injector config.
 */
export interface PolicyConfig extends Pick<InjectorConfig, 'policy' | 'neverInjectSelector' | 'alwaysInjectSelector'> {
  /** neverInjectedNamespaces(the control plane's namespace) */
  neverInjected: readonly string[];
}

function yes(rule: string, reason: string): Decision {
  return { inject: true, rule, reason };
}
function no(rule: string, reason: string): Decision {
  return { inject: false, rule, reason };
}

export function decide(pod: Pod, namespace: NamespaceFacts, cfg: PolicyConfig): Decision {
  const d = decideFresh(pod, namespace, cfg);
  if (d.inject && pod.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) {
    return { ...d, reason: `${d.reason}; already injected: the previous injection is replaced` };
  }
  return d;
}

function decideFresh(pod: Pod, namespace: NamespaceFacts, cfg: PolicyConfig): Decision {
  if (pod.spec?.hostNetwork === true) return no('hostNetwork', 'pod uses the host network namespace');
  if (cfg.neverInjected.includes(namespace.name)) return no('ignored-namespace', `namespace ${namespace.name} is never injected`);

  const labels = pod.metadata?.labels ?? {};
  const annotations = pod.metadata?.annotations ?? {};
  // The label is what the apiserver's objectSelector sees, so it wins over the annotation.
  const explicit =
    labels[INJECT_KEY] !== undefined
      ? { source: 'pod-label', value: labels[INJECT_KEY] }
      : annotations[INJECT_KEY] !== undefined
        ? { source: 'pod-annotation', value: annotations[INJECT_KEY] }
        : undefined;
  if (explicit) {
    const kind = explicit.source === 'pod-label' ? 'label' : 'annotation';
    const b = parseIstioBool(explicit.value);
    if (b === true) return yes(explicit.source, `pod ${kind} ${INJECT_KEY}=${explicit.value}`);
    if (b === false) return no(explicit.source, `pod ${kind} ${INJECT_KEY}=${explicit.value}`);
    // Istio treats an unrecognised value as "do not inject"; say so rather than guess.
    return no(explicit.source, `pod ${kind} ${INJECT_KEY}="${explicit.value}" is not a recognised boolean (true/y/yes/on, false/n/no/off)`);
  }

  const never = cfg.neverInjectSelector.findIndex((s) => matchesSelector(s, labels));
  if (never >= 0) return no('neverInjectSelector', `pod labels match neverInjectSelector[${never}]`);
  const always = cfg.alwaysInjectSelector.findIndex((s) => matchesSelector(s, labels));
  if (always >= 0) return yes('alwaysInjectSelector', `pod labels match alwaysInjectSelector[${always}]`);

  return cfg.policy === 'enabled'
    ? yes('policy', 'injector policy is enabled')
    : no('policy', 'injector policy is disabled and the pod does not opt in');
}

/**
 * Webhook + apiserver view for `tandem check-inject`: first the shipped
 * MutatingWebhookConfiguration's selectors (would the apiserver even call us?),
 * then the webhook's policy. Manual mode skips the namespace selection.
 */
export function explain(pod: Pod, ctx: InjectionContext, cfg: PolicyConfig & { revision: string }): Decision {
  if (ctx.mode === 'webhook') {
    // The apiserver labels every namespace with its own name; the selectors rely on it.
    const nsLabels = { [NAMESPACE_NAME_LABEL]: ctx.namespace.name, ...ctx.namespace.labels };
    const hook = matchingWebhook(cfg.revision, nsLabels, pod.metadata?.labels, cfg.neverInjected);
    if (!hook) return no('webhook-selectors', describeNoHook(nsLabels, pod.metadata?.labels, cfg));
    const d = decide(pod, ctx.namespace, cfg);
    return { ...d, reason: `${d.reason} (apiserver calls webhook ${hook.name})` };
  }
  return decide(pod, ctx.namespace, cfg);
}

function describeNoHook(ns: Record<string, string> | undefined, podLabels: Record<string, string> | undefined, cfg: PolicyConfig & { revision: string }): string {
  const revision = cfg.revision;
  const n = ns ?? {};
  const p = podLabels ?? {};
  const name = n[NAMESPACE_NAME_LABEL];
  if (name !== undefined && cfg.neverInjected.includes(name)) return `namespace ${name} is excluded by the webhook configuration's namespaceSelector`;
  if (p[INJECT_KEY] === 'false') return `pod label ${INJECT_KEY}=false excludes it from every injection webhook`;
  if (n['istio-injection'] !== undefined && n['istio-injection'] !== 'enabled') return `namespace label istio-injection=${n['istio-injection']}`;
  if (n['istio.io/rev'] !== undefined) return `namespace label istio.io/rev=${n['istio.io/rev']} selects another revision (this injector serves ${revision})`;
  if (p['istio.io/rev'] !== undefined) return `pod label istio.io/rev=${p['istio.io/rev']} selects another revision (this injector serves ${revision})`;
  return `namespace has no istio-injection=enabled or istio.io/rev label and the pod has no ${INJECT_KEY}=true label`;
}
