import t from 'tap';
import { neverInjectedNamespaces } from '../../inject/labels.js';
import { decide, explain, type PolicyConfig } from '../../inject/policy.js';
import type { Pod } from '../../inject/types.js';

const enabled: PolicyConfig = { policy: 'enabled', neverInjectSelector: [], alwaysInjectSelector: [], neverInjected: neverInjectedNamespaces('tandem-system') };
const disabled: PolicyConfig = { ...enabled, policy: 'disabled' };

function pod(o: { labels?: Record<string, string>; annotations?: Record<string, string>; hostNetwork?: boolean } = {}): Pod {
  return {
    metadata: { name: 'p', ...(o.labels ? { labels: o.labels } : {}), ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: { containers: [{ name: 'app', image: 'app' }], ...(o.hostNetwork !== undefined ? { hostNetwork: o.hostNetwork } : {}) },
  };
}

const ns = (name = 'shop') => ({ name });
const INJECT = 'sidecar.istio.io/inject';

t.test('each webhook policy rule, in order of precedence', async (t) => {
  const cases: Array<{ name: string; pod: Pod; ns?: string; cfg?: PolicyConfig; inject: boolean; rule: string }> = [
    { name: 'default policy enabled', pod: pod(), inject: true, rule: 'policy' },
    { name: 'default policy disabled', pod: pod(), cfg: disabled, inject: false, rule: 'policy' },
    { name: 'hostNetwork beats everything', pod: pod({ hostNetwork: true, labels: { [INJECT]: 'true' } }), inject: false, rule: 'hostNetwork' },
    { name: 'hostNetwork false is no reason to skip', pod: pod({ hostNetwork: false }), inject: true, rule: 'policy' },
    { name: 'kube-system ignored', pod: pod({ labels: { [INJECT]: 'true' } }), ns: 'kube-system', inject: false, rule: 'ignored-namespace' },
    { name: 'kube-public ignored', pod: pod(), ns: 'kube-public', inject: false, rule: 'ignored-namespace' },
    { name: 'kube-node-lease ignored', pod: pod(), ns: 'kube-node-lease', inject: false, rule: 'ignored-namespace' },
    { name: 'local-path-storage ignored', pod: pod(), ns: 'local-path-storage', inject: false, rule: 'ignored-namespace' },
    { name: 'annotation false opts out', pod: pod({ annotations: { [INJECT]: 'false' } }), inject: false, rule: 'pod-annotation' },
    { name: 'annotation true opts in under disabled policy', pod: pod({ annotations: { [INJECT]: 'true' } }), cfg: disabled, inject: true, rule: 'pod-annotation' },
    { name: 'label true opts in under disabled policy', pod: pod({ labels: { [INJECT]: 'true' } }), cfg: disabled, inject: true, rule: 'pod-label' },
    { name: 'label overrides annotation (label false)', pod: pod({ labels: { [INJECT]: 'false' }, annotations: { [INJECT]: 'true' } }), inject: false, rule: 'pod-label' },
    { name: 'label overrides annotation (label true)', pod: pod({ labels: { [INJECT]: 'true' }, annotations: { [INJECT]: 'false' } }), cfg: disabled, inject: true, rule: 'pod-label' },
    { name: 'unrecognised value does not inject', pod: pod({ annotations: { [INJECT]: 'maybe' } }), inject: false, rule: 'pod-annotation' },
    {
      name: 'explicit opt-in beats neverInjectSelector',
      pod: pod({ labels: { [INJECT]: 'yes', tier: 'db' } }),
      cfg: { ...enabled, neverInjectSelector: [{ matchLabels: { tier: 'db' } }] },
      inject: true,
      rule: 'pod-label',
    },
    {
      name: 'neverInjectSelector (matchLabels)',
      pod: pod({ labels: { tier: 'db' } }),
      cfg: { ...enabled, neverInjectSelector: [{ matchLabels: { tier: 'web' } }, { matchLabels: { tier: 'db' } }] },
      inject: false,
      rule: 'neverInjectSelector',
    },
    {
      name: 'neverInjectSelector beats alwaysInjectSelector',
      pod: pod({ labels: { tier: 'db' } }),
      cfg: { ...disabled, neverInjectSelector: [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }], alwaysInjectSelector: [{ matchLabels: { tier: 'db' } }] },
      inject: false,
      rule: 'neverInjectSelector',
    },
    {
      name: 'alwaysInjectSelector under disabled policy',
      pod: pod({ labels: { tier: 'db' } }),
      cfg: { ...disabled, alwaysInjectSelector: [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['db', 'cache'] }] }] },
      inject: true,
      rule: 'alwaysInjectSelector',
    },
    {
      name: 'selectors that do not match fall through to the policy',
      pod: pod({ labels: { tier: 'web' } }),
      cfg: { ...disabled, alwaysInjectSelector: [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }] },
      inject: false,
      rule: 'policy',
    },
  ];
  for (const c of cases) {
    const d = decide(c.pod, ns(c.ns), c.cfg ?? enabled);
    t.equal(d.inject, c.inject, `${c.name}: inject`);
    t.equal(d.rule, c.rule, `${c.name}: rule`);
    t.type(d.reason, 'string');
    t.ok(d.reason.length > 0, `${c.name}: has a reason`);
  }
});

t.test('Istio boolean spellings for the inject label and annotation', async (t) => {
  for (const v of ['true', 'y', 'yes', 'on', 'TRUE', 'Yes']) t.equal(decide(pod({ annotations: { [INJECT]: v } }), ns(), disabled).inject, true, `${v} means inject`);
  for (const v of ['false', 'n', 'no', 'off', 'False', 'NO']) t.equal(decide(pod({ labels: { [INJECT]: v } }), ns(), enabled).inject, false, `${v} means skip`);
  t.match(decide(pod({ annotations: { [INJECT]: 'maybe' } }), ns(), enabled).reason, /not a recognised boolean/);
});

t.test('an already injected pod is re-injected (the reason says so)', async (t) => {
  const d = decide(pod({ annotations: { 'sidecar.istio.io/status': '{}' } }), ns(), enabled);
  t.equal(d.inject, true);
  t.match(d.reason, /already injected/);
  // ...but an opt-out still wins.
  t.equal(decide(pod({ annotations: { 'sidecar.istio.io/status': '{}', [INJECT]: 'false' } }), ns(), enabled).inject, false);
});

t.test('explain: the apiserver selectors first (webhook mode), none in manual mode', async (t) => {
  const cfg = { ...enabled, revision: 'default' };
  const webhook = (labels: Record<string, string> | undefined) => ({ namespace: { name: 'shop', labels }, mode: 'webhook' as const });
  const cases: Array<{ name: string; nsLabels: Record<string, string>; pod: Pod; inject: boolean; rule: string; reason?: RegExp; revision?: string }> = [
    { name: 'namespace istio-injection=enabled', nsLabels: { 'istio-injection': 'enabled' }, pod: pod(), inject: true, rule: 'policy', reason: /namespace\.sidecar-injector/ },
    { name: 'namespace istio-injection=disabled', nsLabels: { 'istio-injection': 'disabled' }, pod: pod({ labels: { [INJECT]: 'true' } }), inject: false, rule: 'webhook-selectors', reason: /istio-injection=disabled/ },
    { name: 'unlabelled namespace', nsLabels: {}, pod: pod(), inject: false, rule: 'webhook-selectors', reason: /no istio-injection=enabled/ },
    { name: 'pod label opt-in in an unlabelled namespace', nsLabels: {}, pod: pod({ labels: { [INJECT]: 'true' } }), inject: true, rule: 'pod-label', reason: /object\.sidecar-injector/ },
    { name: 'pod annotation alone is not seen by the apiserver', nsLabels: {}, pod: pod({ annotations: { [INJECT]: 'true' } }), inject: false, rule: 'webhook-selectors' },
    { name: 'pod label false excludes even in an enabled namespace', nsLabels: { 'istio-injection': 'enabled' }, pod: pod({ labels: { [INJECT]: 'false' } }), inject: false, rule: 'webhook-selectors', reason: /excludes it from every/ },
    { name: 'pod annotation false: called, then the webhook skips', nsLabels: { 'istio-injection': 'enabled' }, pod: pod({ annotations: { [INJECT]: 'false' } }), inject: false, rule: 'pod-annotation' },
    { name: 'namespace istio.io/rev=default', nsLabels: { 'istio.io/rev': 'default' }, pod: pod(), inject: true, rule: 'policy', reason: /rev\.namespace/ },
    { name: 'namespace istio.io/rev of another revision', nsLabels: { 'istio.io/rev': 'canary' }, pod: pod(), inject: false, rule: 'webhook-selectors', reason: /another revision/ },
    { name: 'pod istio.io/rev in an unlabelled namespace', nsLabels: {}, pod: pod({ labels: { 'istio.io/rev': 'default' } }), inject: true, rule: 'policy', reason: /rev\.object/ },
    { name: 'canary injector, namespace rev=canary', nsLabels: { 'istio.io/rev': 'canary' }, pod: pod(), inject: true, rule: 'policy', revision: 'canary' },
    { name: 'canary injector does not answer istio-injection=enabled', nsLabels: { 'istio-injection': 'enabled' }, pod: pod(), inject: false, rule: 'webhook-selectors', revision: 'canary' },
    { name: 'selected, but hostNetwork', nsLabels: { 'istio-injection': 'enabled' }, pod: pod({ hostNetwork: true }), inject: false, rule: 'hostNetwork' },
  ];
  for (const c of cases) {
    const d = explain(c.pod, webhook(c.nsLabels), { ...cfg, revision: c.revision ?? 'default' });
    t.equal(d.inject, c.inject, `${c.name}: inject`);
    t.equal(d.rule, c.rule, `${c.name}: rule`);
    if (c.reason) t.match(d.reason, c.reason, `${c.name}: reason`);
  }
  // The apiserver's own kubernetes.io/metadata.name label: tandem's namespace is never sent, whatever its labels.
  const own = explain(pod(), { namespace: { name: 'tandem-system', labels: { 'istio-injection': 'enabled' } }, mode: 'webhook' }, cfg);
  t.same([own.inject, own.rule], [false, 'webhook-selectors'], 'tandem-system is excluded by the namespaceSelector');
  t.match(own.reason, /namespace tandem-system is excluded by the webhook configuration's namespaceSelector/);
  const m = explain(pod(), { namespace: { name: 'shop', labels: {} }, mode: 'manual' }, cfg);
  t.same([m.inject, m.rule], [true, 'policy'], 'manual mode ignores namespace labels');
  const optOut = explain(pod({ annotations: { [INJECT]: 'off' } }), { namespace: { name: 'shop' }, mode: 'manual' }, cfg);
  t.same([optOut.inject, optOut.rule], [false, 'pod-annotation'], 'manual mode honours the pod opt-out');
});

t.test('the control plane namespace never injected is the configured one, in the policy and the webhook selection alike', async (t) => {
  const mesh = { ...enabled, neverInjected: neverInjectedNamespaces('mesh-system'), revision: 'default' };
  const selected = { 'istio-injection': 'enabled' };
  const inMesh = explain(pod(), { namespace: { name: 'mesh-system', labels: selected }, mode: 'webhook' }, mesh);
  t.same([inMesh.inject, inMesh.rule], [false, 'webhook-selectors'], 'the configured namespace is not sent by the apiserver');
  t.match(inMesh.reason, /namespace mesh-system is excluded/);
  const d = decide(pod(), ns('mesh-system'), mesh);
  t.same([d.inject, d.rule], [false, 'ignored-namespace'], 'and the policy refuses it when called anyway');
  const former = explain(pod(), { namespace: { name: 'tandem-system', labels: selected }, mode: 'webhook' }, mesh);
  t.same([former.inject, former.rule], [true, 'policy'], 'tandem-system is an ordinary namespace when tandem runs elsewhere');
  for (const k of ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']) {
    t.equal(decide(pod(), ns(k), mesh).rule, 'ignored-namespace', `${k}: policy`);
    t.equal(explain(pod(), { namespace: { name: k, labels: selected }, mode: 'webhook' }, mesh).rule, 'webhook-selectors', `${k}: webhook selection`);
  }
});
