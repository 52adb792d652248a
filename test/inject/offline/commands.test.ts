import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { podSites, type KubeObject } from '../../../inject/offline/workloads.js';
import { ISTIO_INJECT } from '../helpers.js';
import { spawnTandem } from '../../tandem-cli.js';

/** The compiled CLI, as users run it (`npm test` compiles first; for one file run `npx tsc -p .`). */
const root = fileURLToPath(new URL('../../../', import.meta.url));

const tandem = spawnTandem;

t.before(() => {
  if (!existsSync(join(root, 'dist/inject/offline/commands.js'))) throw new Error('dist/ is missing: run `npx tsc -p .` first');
});

t.test('tandem inject: multi-document files, other kinds pass through in order', async (t) => {
  const r = await tandem(['inject', '-f', join(ISTIO_INJECT, 'frontend.yaml'), '-f', join(ISTIO_INJECT, 'hello-host-network.yaml')]);
  t.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as KubeObject);
  t.same(docs.map((d) => [d.kind, (d.metadata as { name: string }).name]), [['Service', 'frontend'], ['Deployment', 'frontend'], ['Deployment', 'hello-host-network']]);
  t.same(podSites(docs[1] as KubeObject)[0]?.pod.spec?.initContainers?.map((c) => c.name), ['istio-init', 'istio-proxy']);
  t.equal(podSites(docs[2] as KubeObject)[0]?.pod.spec?.initContainers, undefined, 'hostNetwork pods are left alone');
  t.equal(r.stderr, '');
});

t.test('tandem inject -f - -o json reads stdin; injecting the output again changes nothing', async (t) => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'a' } }, spec: { containers: [{ name: 'a', image: 'a' }] } };
  const once = await tandem(['inject', '-f', '-', '-o', 'json'], JSON.stringify(pod));
  t.equal(once.code, 0, once.stderr);
  const injected = JSON.parse(once.stdout) as KubeObject;
  t.equal((injected.metadata as { labels: Record<string, string> }).labels['security.istio.io/tlsMode'], 'istio');
  const twice = await tandem(['inject', '-f', '-', '-o', 'json'], once.stdout);
  t.same(JSON.parse(twice.stdout), injected);
});

t.test('tandem inject: user errors exit 1 with one line naming what and where', async (t) => {
  const dir = t.testdir({
    'broken.yaml': 'kind: Service\nmetadata: {name: s}\n---\nkind: Pod\nmetadata: [\n',
  });
  const broken = await tandem(['inject', '-f', join(dir, 'broken.yaml')]);
  t.equal(broken.code, 1);
  t.match(broken.stderr, new RegExp(`^tandem: ${join(dir, 'broken.yaml').replace(/[.]/g, '\\.')}: document 2: invalid YAML: .+\\n$`));
  t.equal(broken.stdout, '', 'nothing half-written on stdout');

  const bad = await tandem(['inject', '-f', join(ISTIO_INJECT, 'traffic-annotations-bad-includeipranges.yaml')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^tandem: .*traffic-annotations-bad-includeipranges\.yaml: document 1: Deployment\/traffic: invalid annotation traffic\.sidecar\.istio\.io\/includeOutboundIPRanges="bad"/);
  t.equal(bad.stderr.trim().split('\n').length, 1);

  const none = await tandem(['inject']);
  t.equal(none.code, 1);
  t.match(none.stderr, /no input; pass -f FILE/);
  const format = await tandem(['inject', '-f', '-', '-o', 'xml'], '');
  t.equal(format.code, 1);
  t.match(format.stderr, /xml/);
  const cfg = await tandem(['inject', '-f', '-', '--config', join(dir, 'missing.yaml')], '');
  t.equal(cfg.code, 1);
  t.match(cfg.stderr, /missing\.yaml: cannot read: ENOENT/);
});

t.test('tandem check-inject explains, with the apiserver selectors', async (t) => {
  const files = ['hello.yaml', 'hello-ignore.yaml', 'hello-host-network.yaml', 'hello-service.yaml'].flatMap((f) => ['-f', join(ISTIO_INJECT, f)]);
  const json = await tandem(['check-inject', ...files, '--namespace-labels', 'istio-injection=enabled', '-o', 'json']);
  t.equal(json.code, 0, json.stderr);
  const results = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
  t.same(results.map((r) => [r.kind, r.name, r.namespace, r.inject, r.rule]), [
    ['Deployment', 'hello', 'default', true, 'policy'],
    ['Deployment', 'hello', 'default', false, 'pod-annotation'],
    ['Deployment', 'hello-host-network', 'default', false, 'hostNetwork'],
  ]);
  for (const r of results) t.same(Object.keys(r).sort(), ['inject', 'kind', 'name', 'namespace', 'reason', 'rule']);
  const text = await tandem(['check-inject', '-f', join(ISTIO_INJECT, 'hello.yaml')]);
  t.equal(text.code, 0);
  t.match(text.stdout, /^Deployment\/hello \(namespace default\): not injected \[webhook-selectors\] namespace has no istio-injection=enabled/);
  const badLabels = await tandem(['check-inject', '-f', join(ISTIO_INJECT, 'hello.yaml'), '--namespace-labels', 'oops']);
  t.equal(badLabels.code, 1);
  t.match(badLabels.stderr, /^tandem: --namespace-labels: "oops" is not key=value\n$/);
});

t.test('tandem inject and check-inject honour the same injector config (cni: true)', async (t) => {
  const dir = t.testdir({ 'cni.yaml': 'cni: true\n', 'bad.yaml': 'cni: enabled\n' });
  const cfg = join(dir, 'cni.yaml');
  const r = await tandem(['inject', '--config', cfg, '-f', join(ISTIO_INJECT, 'hello.yaml'), '-o', 'json']);
  t.equal(r.code, 0, r.stderr);
  const pod = podSites(JSON.parse(r.stdout) as KubeObject)[0]?.pod;
  t.same(pod?.spec?.initContainers?.map((c) => c.name), ['istio-validation', 'istio-proxy'], 'CNI mode: no istio-init');
  t.equal(pod?.metadata?.annotations?.['sidecar.istio.io/interceptionMode'], 'REDIRECT', 'the annotations the plugin reads');

  const files = ['hello.yaml', 'hello-ignore.yaml', 'hello-host-network.yaml'].flatMap((f) => ['-f', join(ISTIO_INJECT, f)]);
  const plain = await tandem(['check-inject', ...files, '-o', 'json']);
  const cni = await tandem(['check-inject', '--config', cfg, ...files, '-o', 'json']);
  t.equal(cni.code, 0, cni.stderr);
  t.same(JSON.parse(cni.stdout), JSON.parse(plain.stdout), 'CNI mode changes how, not whether, a pod is injected');

  for (const cmd of ['inject', 'check-inject']) {
    const bad = await tandem([cmd, '--config', join(dir, 'bad.yaml'), '-f', join(ISTIO_INJECT, 'hello.yaml')]);
    t.equal(bad.code, 1, `${cmd}: a bad config is a user error`);
    t.match(bad.stderr, /bad\.yaml: cni: must be true or false/, `${cmd}: names the file and field`);
  }
});
