import { fileURLToPath } from 'node:url';
import t from 'tap';
import { injectPod, loadInjector } from '../../inject/injector.js';
import type { Pod } from '../../inject/types.js';
import { basicPod, manual, podProblems } from './helpers.js';

/**
 * inject.istio.io/templates: named templates from the templates directory,
 * applied in the listed order over the pod (issue 4 item 6).
 */
const FIXTURES = fileURLToPath(new URL('./fixtures/templates/', import.meta.url));

function twoContainers(templates: string): Pod {
  return {
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' }, annotations: { 'inject.istio.io/templates': templates } },
    spec: {
      containers: [
        { name: 'app', image: 'shop/web:1', env: [{ name: 'SOME_ENV', value: 'mine' }, { name: 'KEEP', value: '1' }] },
        { name: 'worker', image: 'shop/worker:1' },
      ],
    },
  };
}

const CUSTOM_ENV = [
  { name: 'SOME_ENV', value: 'true' },
  { name: 'SOME_FILE', value: '/var/lib/data/foo.json' },
];
const CUSTOM_MOUNT = { mountPath: '/var/lib/data/foo.json', subPath: 'foo.json', name: 'some-injected-file' };
const CUSTOM_VOLUME = { name: 'some-injected-file', downwardAPI: { items: [{ path: 'foo.json', fieldRef: { fieldPath: "metadata.annotations['foo']" } }] } };

t.test('a named template alone: its overlay, no sidecar, the pod own containers kept for re-injection', async (t) => {
  const inj = await loadInjector({ templatesDir: FIXTURES });
  const input = twoContainers('custom');
  const out = injectPod(input, manual('shop'), inj);
  t.same(out.warnings, []);
  t.same(out.pod, {
    metadata: {
      name: 'web',
      namespace: 'shop',
      labels: { app: 'web' },
      annotations: {
        'inject.istio.io/templates': 'custom',
        // The template's annotations, which also turn off probe rewrite and metrics merge.
        'prometheus.istio.io/merge-metrics': 'false',
        'sidecar.istio.io/rewriteAppHTTPProbers': 'false',
        foo: 'bar',
        'proxy.istio.io/overrides': JSON.stringify({ containers: input.spec?.containers, initContainers: [] }),
        'sidecar.istio.io/status': '{"initContainers":null,"containers":["app","worker"],"volumes":["some-injected-file"],"imagePullSecrets":null,"revision":"default"}',
      },
    },
    spec: {
      containers: [
        // The template's env wins over the pod's for the same name; the rest is kept.
        { name: 'app', image: 'shop/web:1', env: [{ name: 'SOME_ENV', value: 'true' }, { name: 'KEEP', value: '1' }, CUSTOM_ENV[1]], volumeMounts: [CUSTOM_MOUNT] },
        { name: 'worker', image: 'shop/worker:1', env: CUSTOM_ENV, volumeMounts: [CUSTOM_MOUNT] },
      ],
      volumes: [CUSTOM_VOLUME],
    },
  });
  t.same(podProblems(out.pod), []);
  t.same(injectPod(out.pod, manual('shop'), inj).pod, out.pod, 're-injection starts from the pod own containers: same result');
});

t.test('sidecar plus a template patching the native sidecar (Istio test data: spire)', async (t) => {
  const inj = await loadInjector({ templatesDir: FIXTURES });
  const out = injectPod(basicPod({ annotations: { 'inject.istio.io/templates': 'sidecar,spire' } }), manual('shop'), inj).pod;
  t.same(out.spec?.initContainers?.map((c) => c.name), ['istio-init', 'istio-proxy']);
  t.same(out.spec?.containers.map((c) => c.name), ['app'], 'no second istio-proxy');
  const proxy = out.spec?.initContainers?.[1];
  t.same(proxy?.volumeMounts?.at(-1), { name: 'workload-socket', mountPath: '/var/run/secrets/workload-spiffe-uds', readOnly: true });
  t.equal(proxy?.restartPolicy, 'Always');
  t.same(out.spec?.volumes?.at(-1), { name: 'workload-socket', csi: { driver: 'csi.spiffe.io', readOnly: true } });
  t.same(JSON.parse(out.metadata?.annotations?.['sidecar.istio.io/status'] as string), {
    initContainers: ['istio-init', 'istio-proxy'],
    containers: null,
    volumes: ['istio-envoy', 'istio-data', 'istio-podinfo', 'workload-socket'],
    imagePullSecrets: null,
    revision: 'default',
  });
  t.equal(out.metadata?.annotations?.['proxy.istio.io/overrides'], undefined, 'the proxy is ours: nothing of the user to keep');
  t.same(podProblems(out), []);
  t.same(injectPod(out, manual('shop'), inj).pod, out, 're-injection is stable');
  // Duplicates and spaces in the list, as Istio's multiple-templates test data.
  t.same(injectPod(basicPod({ annotations: { 'inject.istio.io/templates': ' sidecar , sidecar,spire,spire' } }), manual('shop'), inj).pod.spec, out.spec);
});

t.test('template selection errors and template directory errors', async (t) => {
  const inj = await loadInjector({ templatesDir: FIXTURES });
  t.throws(() => injectPod(basicPod({ annotations: { 'inject.istio.io/templates': 'sidecar,gateway' } }), manual(), inj), {
    name: 'UserError',
    message: 'invalid annotation inject.istio.io/templates="sidecar,gateway": unknown template "gateway" (available: sidecar, custom, grpc, spire)',
  });
  t.same(injectPod(basicPod({ annotations: { 'inject.istio.io/templates': '' } }), manual(), inj).pod.spec?.initContainers?.map((c) => c.name), ['istio-init', 'istio-proxy'], 'empty: the default sidecar');

  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ 'x.yaml': 'kind: Pod\n' }, /x\.yaml: unknown top-level field "kind" \(allowed: metadata, spec\)/],
    [{ 'x.yaml': 'metadata:\n  annotations:\n    img: ${proxyImage}\n' }, /x\.yaml metadata: .*unknown placeholder \$\{proxyImage\}/],
    [{ 'x.yaml': 'metadata:\n  name: x\n' }, /x\.yaml: metadata\.name: only labels and annotations can be set/],
    [{ 'x.yaml': 'metadata:\n  labels:\n    n: 1\n' }, /x\.yaml: metadata\.labels\.n must be a string/],
    [{ 'x.yaml': 'spec:\n  hostNetwork: true\n' }, /x\.yaml: spec\.hostNetwork: only containers, initContainers and volumes can be set/],
    [{ 'x.yaml': 'spec:\n  volumes:\n    - name: "*"\n' }, /x\.yaml: spec\.volumes\[0\]: name "\*" only applies to containers/],
    [{ 'x.yaml': 'spec:\n  containers:\n    - image: a\n' }, /x\.yaml: spec\.containers\[0\] needs a name/],
    [{ 'Bad_Name.yaml': 'spec: {}\n' }, /template name "Bad_Name" must be a DNS-1123 label/],
    [{ 'x.yaml': 'spec: [\n' }, /x\.yaml: invalid YAML/],
    [{ 'x.yaml': 'spec: {}\n', 'x.yml': 'spec: {}\n' }, /template x is defined twice/],
  ];
  for (const [files, msg] of bad) {
    const dir = t.testdir(files);
    await t.rejects(loadInjector({ templatesDir: dir }), { name: 'UserError', message: msg }, Object.keys(files).join(','));
  }
  // A container the template adds must be complete; a pod without it makes that an injection error.
  const dir = t.testdir({ 'agent.yaml': 'spec:\n  containers:\n    - name: agent\n      env: [{name: A, value: b}]\n' });
  const partial = await loadInjector({ templatesDir: dir });
  t.throws(() => injectPod(basicPod({ annotations: { 'inject.istio.io/templates': 'agent' } }), manual(), partial), {
    name: 'UserError',
    message: /template .*agent\.yaml: containers agent is not in the pod and has no image/,
  });
});

t.test('a template adding its own containers, with placeholders', async (t) => {
  const dir = t.testdir({
    'agent.yaml': [
      'metadata:',
      '  labels:',
      '    mesh.example/revision: ${revision}',
      'spec:',
      '  initContainers:',
      '    - name: agent-init',
      '      image: ${initImage}',
      '      args: [bootstrap, --xds, "${xdsAddress}"]',
      '  containers:',
      '    - name: agent',
      '      image: ${proxyImage}',
      '      resources: ${proxyResources}',
    ].join('\n'),
  });
  const inj = await loadInjector({ templatesDir: dir, config: { revision: 'canary' } });
  const out = injectPod(basicPod({ annotations: { 'inject.istio.io/templates': 'agent', 'sidecar.istio.io/proxyImage': 'agent:2' } }), manual('shop'), inj).pod;
  t.equal(out.metadata?.labels?.['mesh.example/revision'], 'canary');
  t.same(out.spec?.initContainers, [{ name: 'agent-init', image: 'ghcr.io/tandem-mesh/tandem:0.1.0', args: ['bootstrap', '--xds', 'tandem-xds.tandem-system.svc:15010'] }]);
  t.same(out.spec?.containers.map((c) => [c.name, c.image]), [['app', 'shop/web:1'], ['agent', 'agent:2']]);
  t.same(out.spec?.containers[1]?.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } });
  t.same(JSON.parse(out.metadata?.annotations?.['sidecar.istio.io/status'] as string), { initContainers: ['agent-init'], containers: ['agent'], volumes: null, imagePullSecrets: null, revision: 'canary' });
  t.same(podProblems(out), []);
  t.same(injectPod(out, manual('shop'), inj).pod, out, 're-injection removes and re-adds them');
});

t.test('a named template metadata annotation steers the proxy as a pod annotation would: its resources', async (t) => {
  // Only metadata: the template sets what the pod could have set itself.
  const dir = t.testdir({ 'cpu.yaml': 'metadata:\n  annotations:\n    sidecar.istio.io/proxyCPU: 300m\n' });
  const inj = await loadInjector({ templatesDir: dir });
  const out = injectPod(basicPod({ annotations: { 'inject.istio.io/templates': 'sidecar,cpu' } }), manual('shop'), inj).pod;
  const proxy = [...(out.spec?.initContainers ?? []), ...(out.spec?.containers ?? [])].find((c) => c.name === 'istio-proxy');
  // As a pod annotation: exactly what the annotations say, no default mixed in.
  t.same(proxy?.resources, { requests: { cpu: '300m' } });
  t.equal(out.metadata?.annotations?.['sidecar.istio.io/proxyCPU'], '300m');
  t.same(podProblems(out), []);
});
