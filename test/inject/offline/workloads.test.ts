import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { formatDocuments, parseDocuments } from '../../../common/documents.js';
import { checkFiles, formatCheckResults, injectFiles, parseLabelList } from '../../../inject/offline/files.js';
import { mapPods, podSites, WORKLOAD_KINDS, type KubeObject } from '../../../inject/offline/workloads.js';
import { injector } from '../helpers.js';

const template = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'app', image: 'app' }] } };
const wrap = (kind: string, apiVersion = 'apps/v1'): KubeObject =>
  kind === 'CronJob'
    ? { apiVersion: 'batch/v1', kind, metadata: { name: 'cj', namespace: 'ops' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } } }
    : kind === 'Pod'
      ? { apiVersion: 'v1', kind, metadata: { name: 'solo', namespace: 'ops', ...template.metadata }, spec: template.spec }
      : { apiVersion, kind, metadata: { name: kind.toLowerCase(), namespace: 'ops' }, spec: { template } };

t.test('pod templates are found in every workload kind', async (t) => {
  t.same(WORKLOAD_KINDS, ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'DeploymentConfig', 'CronJob']);
  for (const kind of WORKLOAD_KINDS) {
    const o = wrap(kind);
    const sites = podSites(o);
    t.equal(sites.length, 1, `${kind}: one pod`);
    t.same(sites[0]?.pod.spec, template.spec, `${kind}: the template's spec`);
    t.equal(sites[0]?.namespace, 'ops');
    const out = mapPods(o, (s) => ({ ...s.pod, metadata: { ...s.pod.metadata, labels: { injected: 'yes' } } }));
    const again = podSites(out)[0];
    t.same(again?.pod.metadata?.labels, { injected: 'yes' }, `${kind}: the pod is written back in place`);
    t.same(podSites(o)[0]?.pod.metadata?.labels, { app: 'x' }, `${kind}: the input object is not changed`);
  }
  t.same(podSites(wrap('CronJob'))[0]?.workload, { kind: 'CronJob', name: 'cj' });
});

t.test('other kinds and Lists', async (t) => {
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } };
  t.same(podSites(svc), []);
  t.equal(mapPods(svc, () => { throw new Error('not called'); }), svc, 'untouched kinds come back as the same object');
  t.same(podSites({ kind: 'Deployment', metadata: { name: 'no-template' }, spec: {} }), []);
  const list = { apiVersion: 'v1', kind: 'List', items: [svc, wrap('Deployment'), wrap('Job', 'batch/v1'), 'junk'] };
  t.same(podSites(list).map((s) => s.kind), ['Deployment', 'Job']);
  const out = mapPods(list, (s) => ({ ...s.pod, metadata: { name: 'changed' } })) as { items: KubeObject[] };
  t.equal(out.items[0], svc);
  t.equal(out.items[3], 'junk');
  t.same((out.items[1] as { spec: { template: { metadata: unknown } } }).spec.template.metadata, { name: 'changed' });
});

t.test('multi-document YAML: errors name the file and document', async (t) => {
  t.same(parseDocuments('', 'empty.yaml'), []);
  const docs = parseDocuments('---\na: 1\n---\n---\nkind: Pod\n', 'f.yaml');
  t.same(docs.map((d) => [d.index, d.object]), [[1, { a: 1 }], [3, { kind: 'Pod' }]]);
  t.throws(() => parseDocuments('kind: Pod\n---\nkind: [\n', 'bad.yaml'), { name: 'UserError', message: /^bad\.yaml: document 2: invalid YAML: / });
  t.throws(() => parseDocuments('- a\n', 'list.yaml'), { message: 'list.yaml: document 1: expected a Kubernetes object (a mapping), got a list' });
  t.throws(() => parseDocuments('just text\n', 's.yaml'), { message: 's.yaml: document 1: expected a Kubernetes object (a mapping), got string' });
  const kept = parseAllDocuments('# a comment\nkind: Service  # trailing\n')[0];
  t.equal(formatDocuments([{ object: { kind: 'Service' }, original: kept as never }, { object: { kind: 'Pod' } }], 'yaml'), '# a comment\nkind: Service # trailing\n---\nkind: Pod\n');
  t.same(JSON.parse(formatDocuments([{ object: { kind: 'Pod' } }], 'json')), { kind: 'Pod' });
  t.same(JSON.parse(formatDocuments([{ object: { kind: 'Pod' } }, { object: { kind: 'Service' } }], 'json')), { apiVersion: 'v1', kind: 'List', items: [{ kind: 'Pod' }, { kind: 'Service' }] });
});

t.test('injectFiles: same code path as the webhook, errors name file, document and workload', async (t) => {
  const inj = await injector();
  const dir = t.testdir({
    'app.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: s # keep me\n---\n' + JSON.stringify(wrap('Deployment')) + '\n',
    'bad.yaml': JSON.stringify({ ...wrap('Pod'), metadata: { name: 'p', annotations: { 'traffic.sidecar.istio.io/excludeInboundPorts': 'x' } } }),
    'tpl.yaml': JSON.stringify({ ...wrap('Pod'), metadata: { name: 'g', annotations: { 'inject.istio.io/templates': 'gateway' } } }),
  });
  const res = await injectFiles([join(dir, 'app.yaml')], inj, 'yaml');
  t.match(res.output, /^apiVersion: v1\nkind: Service\nmetadata:\n  name: s # keep me\n---\n/, 'pass-through documents keep their text');
  const out = parseAllDocuments(res.output).map((d) => d.toJS() as KubeObject);
  t.equal(out.length, 2);
  t.same(podSites(out[1] as KubeObject)[0]?.pod.spec?.initContainers?.map((c) => c.name), ['istio-init', 'istio-proxy']);
  await t.rejects(injectFiles([join(dir, 'bad.yaml')], inj, 'yaml'), { name: 'UserError', message: `${join(dir, 'bad.yaml')}: document 1: Pod/p: invalid annotation traffic.sidecar.istio.io/excludeInboundPorts="x": "x" is not a port (expected a comma-separated list of ports 1-65535)` });
  await t.rejects(injectFiles([join(dir, 'tpl.yaml')], inj, 'json'), {
    name: 'UserError',
    message: `${join(dir, 'tpl.yaml')}: document 1: Pod/g: invalid annotation inject.istio.io/templates="gateway": unknown template "gateway" (available: sidecar, grpc)`,
  });
  const stdin = await injectFiles(['-'], inj, 'json', { stdin: async () => JSON.stringify(wrap('Pod')) });
  t.equal((JSON.parse(stdin.output) as KubeObject).kind, 'Pod');
  const unquoted = t.testdir({ 'u.yaml': 'kind: Pod\nmetadata:\n  name: u\n  annotations:\n    sidecar.istio.io/inject: false\nspec:\n  containers: [{name: a, image: a}]\n' });
  await t.rejects(injectFiles([join(unquoted, 'u.yaml')], inj, 'yaml'), { name: 'UserError', message: /u\.yaml: document 1: Pod\/u: pod metadata\.annotations\.sidecar\.istio\.io\/inject is false, not a string \(quote it\)/ });
  await t.rejects(checkFiles([join(unquoted, 'u.yaml')], inj, {}), { name: 'UserError', message: /u\.yaml: document 1: Pod\/u: pod metadata\.annotations\.sidecar\.istio\.io\/inject is false/ });
  await t.rejects(injectFiles([], inj, 'yaml'), { message: /no input; pass -f FILE/ });
  await t.rejects(injectFiles([join(dir, 'nope.yaml')], inj, 'yaml'), { message: /nope\.yaml: cannot read: ENOENT/ });
});

t.test('checkFiles / parseLabelList', async (t) => {
  const inj = await injector();
  t.same(parseLabelList(''), {});
  t.same(parseLabelList('istio-injection=enabled, team=a,istio.io/rev=canary'), { 'istio-injection': 'enabled', team: 'a', 'istio.io/rev': 'canary' });
  t.throws(() => parseLabelList('novalue'), { message: '--namespace-labels: "novalue" is not key=value' });
  t.throws(() => parseLabelList('bad key=v'), { message: '--namespace-labels: "bad key" is not a label key' });
  const dir = t.testdir({
    'w.yaml': [
      JSON.stringify(wrap('Deployment')),
      JSON.stringify({ ...wrap('Pod'), metadata: { name: 'out', labels: { 'sidecar.istio.io/inject': 'false' } } }),
      JSON.stringify({ ...wrap('Pod'), metadata: { name: 'bad', annotations: { 'sidecar.istio.io/interceptionMode': 'magic' } } }),
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }),
    ].join('\n---\n'),
  });
  const results = await checkFiles([join(dir, 'w.yaml')], inj, { 'istio-injection': 'enabled' });
  t.same(results.map((r) => [r.kind, r.name, r.namespace, r.inject, r.rule]), [
    ['Deployment', 'deployment', 'ops', true, 'policy'],
    ['Pod', 'out', 'default', false, 'webhook-selectors'],
    ['Pod', 'bad', 'default', false, 'invalid-annotation'],
  ]);
  t.match(results[2]?.reason, /the webhook would refuse the pod: invalid annotation sidecar\.istio\.io\/interceptionMode="magic"/);
  const unlabelled = await checkFiles([join(dir, 'w.yaml')], inj, {});
  t.same(unlabelled.map((r) => r.inject), [false, false, false]);
  t.match(formatCheckResults(results, 'text'), /^Deployment\/deployment \(namespace ops\): INJECTED \[policy\] /);
  t.same(JSON.parse(formatCheckResults(results, 'json'))[0], { kind: 'Deployment', name: 'deployment', namespace: 'ops', inject: true, rule: 'policy', reason: results[0]?.reason });
  t.equal(formatCheckResults([], 'text'), 'no workloads with a pod template found\n');
  await t.rejects(checkFiles([], inj, {}), { message: /check-inject: no input/ });
});
