import t from 'tap';
import { injectionWebhooks, matchingWebhook } from '../../inject/injection-webhooks.js';
import { matchesSelector, selectorProblem } from '../../common/label-selectors.js';

t.test('Kubernetes label selector semantics', async (t) => {
  const labels = { app: 'web', tier: 'front' };
  const cases: Array<[string, Parameters<typeof matchesSelector>[0], Record<string, string> | undefined, boolean]> = [
    ['empty selector matches everything', {}, labels, true],
    ['empty selector matches no labels', {}, undefined, true],
    ['matchLabels equal', { matchLabels: { app: 'web' } }, labels, true],
    ['matchLabels all must hold', { matchLabels: { app: 'web', tier: 'back' } }, labels, false],
    ['matchLabels missing label', { matchLabels: { zone: 'a' } }, labels, false],
    ['In', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['back', 'front'] }] }, labels, true],
    ['In, value not listed', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, labels, false],
    ['In, label missing', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, labels, false],
    ['NotIn, value listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels, false],
    ['NotIn, value not listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['back'] }] }, labels, true],
    ['NotIn, label missing matches', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels, true],
    ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, labels, true],
    ['Exists, missing', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels, true],
    ['DoesNotExist, present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels, false],
    ['labels and expressions both hold', { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels, true],
    ['labels hold, expression fails', { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels, false],
  ];
  for (const [name, sel, l, want] of cases) t.equal(matchesSelector(sel, l), want, name);
});

t.test('selector validation for config files', async (t) => {
  t.equal(selectorProblem({ matchLabels: { a: 'b' } }), undefined);
  t.equal(selectorProblem({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }), undefined);
  t.match(selectorProblem('x'), /must be a mapping/);
  t.match(selectorProblem({ matchLabel: {} }), /unknown field "matchLabel"/);
  t.match(selectorProblem({ matchLabels: { a: 1 } }), /matchLabels\.a must be a string/);
  t.match(selectorProblem({ matchLabels: [] }), /matchLabels must be a mapping/);
  t.match(selectorProblem({ matchExpressions: {} }), /must be a list/);
  t.match(selectorProblem({ matchExpressions: [{ key: '', operator: 'In', values: ['x'] }] }), /key must be a non-empty/);
  t.match(selectorProblem({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }), /operator must be one of In, NotIn, Exists, DoesNotExist/);
  t.match(selectorProblem({ matchExpressions: [{ key: 'a', operator: 'In' }] }), /\(In\) needs values/);
  t.match(selectorProblem({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }), /takes no values/);
  t.match(selectorProblem({ matchExpressions: [{ key: 'a', operator: 'In', values: [1] }] }), /values must be a list of strings/);
  t.match(selectorProblem({ matchExpressions: [null] }), /must be a mapping/);
});

t.test("the shipped webhooks are Istio's four for the default revision, two for others", async (t) => {
  const def = injectionWebhooks('default');
  t.same(def.map((h) => h.name), [
    'rev.namespace.sidecar-injector.istio.io',
    'rev.object.sidecar-injector.istio.io',
    'namespace.sidecar-injector.istio.io',
    'object.sidecar-injector.istio.io',
  ]);
  // Hand-written from Istio's chart: the namespace webhook.
  t.same(def[2], {
    name: 'namespace.sidecar-injector.istio.io',
    namespaceSelector: {
      matchExpressions: [
        { key: 'istio-injection', operator: 'In', values: ['enabled'] },
        // As the shipped manifests: Kubernetes' namespaces and tandem's own are never sent.
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage', 'tandem-system'] },
      ],
    },
    objectSelector: { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }] },
  });
  t.same(def[3]?.objectSelector, {
    matchExpressions: [
      { key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] },
      { key: 'istio.io/rev', operator: 'DoesNotExist' },
    ],
  });
  const canary = injectionWebhooks('canary');
  t.same(canary.map((h) => h.name), ['rev.namespace.sidecar-injector.istio.io', 'rev.object.sidecar-injector.istio.io']);
  t.same(canary[0]?.namespaceSelector.matchExpressions?.[0], { key: 'istio.io/rev', operator: 'In', values: ['canary'] });
  // Fresh objects every call: callers may mutate them (manifest generation).
  t.not(injectionWebhooks('default')[0], def[0]);
});

t.test('which webhook the apiserver calls', async (t) => {
  t.equal(matchingWebhook('default', { 'istio-injection': 'enabled' }, {})?.name, 'namespace.sidecar-injector.istio.io');
  t.equal(matchingWebhook('default', {}, { 'sidecar.istio.io/inject': 'true' })?.name, 'object.sidecar-injector.istio.io');
  t.equal(matchingWebhook('default', { 'istio.io/rev': 'default' }, {})?.name, 'rev.namespace.sidecar-injector.istio.io');
  t.equal(matchingWebhook('default', {}, { 'istio.io/rev': 'default' })?.name, 'rev.object.sidecar-injector.istio.io');
  t.equal(matchingWebhook('default', {}, {}), undefined);
  t.equal(matchingWebhook('default', { 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'false' }), undefined);
  // Both namespace labels: istio-injection wins, as Istio documents.
  t.equal(matchingWebhook('default', { 'istio-injection': 'enabled', 'istio.io/rev': 'canary' }, {})?.name, 'namespace.sidecar-injector.istio.io');
  t.equal(matchingWebhook('canary', { 'istio-injection': 'enabled', 'istio.io/rev': 'canary' }, {}), undefined);
  // Excluded namespaces, whatever their labels say.
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage', 'tandem-system']) {
    t.equal(matchingWebhook('default', { 'kubernetes.io/metadata.name': ns, 'istio-injection': 'enabled' }, {}), undefined, `${ns}: namespace label`);
    t.equal(matchingWebhook('default', { 'kubernetes.io/metadata.name': ns }, { 'sidecar.istio.io/inject': 'true' }), undefined, `${ns}: pod label`);
    t.equal(matchingWebhook('default', { 'kubernetes.io/metadata.name': ns, 'istio.io/rev': 'default' }, {}), undefined, `${ns}: revision label`);
  }
  t.equal(matchingWebhook('default', { 'kubernetes.io/metadata.name': 'shop', 'istio-injection': 'enabled' }, {})?.name, 'namespace.sidecar-injector.istio.io');
});
