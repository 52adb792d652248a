// The kubernetes source against an EMULATED apiserver (test/control-plane/k8s-emulator.ts: list, watch,
// 410 after compaction, error statuses, dropped connections, discovery for custom resources): real
// @kubernetes/client-node informers over real HTTP; only the apiserver is emulated.
import t, { type Test } from 'tap';
import { createKubernetesConfigStore, istioCrd, type KubernetesConfigStore } from '../../../config/store/kubernetes.js';
import type { ConfigChange } from '../../../config/store/types.js';
import { EmulatedApiServer, emulatorKubeConfig } from '../../control-plane/k8s-emulator.js';
import { freshMetrics, recordingLogger, rejectedCount, testValidator, until } from './helpers.js';

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const NAMESPACES = '/api/v1/namespaces';
const VS = '/apis/networking.istio.io/v1/virtualservices';
const DR_BETA = '/apis/networking.istio.io/v1beta1/destinationrules';
const SE = '/apis/networking.istio.io/v1/serviceentries';

function crd(group: string, kind: string, plural: string, versions: Array<[string, boolean]>, established = 'True') {
  return {
    metadata: { name: `${plural}.${group}` },
    spec: { group, scope: 'Namespaced', names: { kind, plural, listKind: `${kind}List`, singular: kind.toLowerCase() }, versions: versions.map(([name, served], i) => ({ name, served, storage: i === 0 })) },
    status: { conditions: [{ type: 'Established', status: established }] },
  };
}

/** Installs a CRD: its served versions become collections, then the CRD object is created. */
function installCrd(api: EmulatedApiServer, group: string, kind: string, plural: string, versions: Array<[string, boolean]>): void {
  for (const [v, served] of versions) if (served) api.addCollection(`/apis/${group}/${v}/${plural}`, kind, `${group}/${v}`);
  api.apply(CRDS, 'ADDED', crd(group, kind, plural, versions));
}

const vs = (name: string, ns: string, hosts: unknown) => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts } });
const dr = (name: string, ns: string, host: unknown) => ({ apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: { name, namespace: ns }, spec: { host } });
const se = (name: string, ns: string) => ({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, namespace: ns }, spec: { hosts: ['x.example.com'] } });

async function emulator(t: Test): Promise<{ api: EmulatedApiServer; port: number }> {
  const api = new EmulatedApiServer();
  api.addCollection(CRDS, 'CustomResourceDefinition', 'apiextensions.k8s.io/v1', false);
  const port = await api.start();
  t.teardown(() => api.close());
  return { api, port };
}

function recordChanges(store: KubernetesConfigStore): ConfigChange[] {
  const changes: ConfigChange[] = [];
  store.onChange((c) => changes.push(c));
  return changes;
}

t.test('istioCrd: the served version tandem reads, in the order v1, v1beta1, v1alpha3; not-established CRDs serve nothing', async (t) => {
  t.same(istioCrd(crd('networking.istio.io', 'VirtualService', 'virtualservices', [['v1alpha3', true], ['v1beta1', true], ['v1', true]])), { kind: 'VirtualService', group: 'networking.istio.io', plural: 'virtualservices', version: 'v1' });
  t.equal(istioCrd(crd('networking.istio.io', 'VirtualService', 'virtualservices', [['v1', false], ['v1beta1', true]]))?.version, 'v1beta1');
  t.equal(istioCrd(crd('networking.istio.io', 'VirtualService', 'virtualservices', [['v2', true]]))?.version, undefined);
  t.equal(istioCrd(crd('networking.istio.io', 'VirtualService', 'virtualservices', [['v1', true]], 'False'))?.version, undefined);
  t.equal(istioCrd(crd('gateway.networking.k8s.io', 'Gateway', 'gateways', [['v1', true]])), undefined, "the Gateway API's Gateway");
  t.equal(istioCrd(crd('example.com', 'Widget', 'widgets', [['v1', true]])), undefined);
  t.equal(istioCrd({}), undefined);
});

t.test('CRD informers, invalid objects, a CRD installed later, 410 re-list, a 500 and a dropped watch', async (t) => {
  const { api, port } = await emulator(t);
  installCrd(api, 'networking.istio.io', 'VirtualService', 'virtualservices', [['v1', true], ['v1beta1', true], ['v1alpha3', true]]);
  installCrd(api, 'networking.istio.io', 'DestinationRule', 'destinationrules', [['v1', false], ['v1beta1', true]]);
  api.apply(VS, 'ADDED', vs('a', 'shop', ['a']));
  api.apply(VS, 'ADDED', vs('bad', 'shop', []));
  api.apply(DR_BETA, 'ADDED', dr('r', 'shop', 'r'));

  const log = recordingLogger();
  const metrics = freshMetrics();
  const store = await createKubernetesConfigStore({ kubeConfig: emulatorKubeConfig(port), validate: testValidator, log, metrics, retryMs: 20, maxRetryMs: 100 });
  t.teardown(() => store.close());
  await store.synced;
  t.ok(store.hasSynced());
  t.same(store.list('VirtualService').map((o) => o.metadata.name), ['a'], 'the invalid object is skipped');
  t.same(store.list('DestinationRule').map((o) => o.metadata.name), ['r'], 'read through the served v1beta1');
  t.equal(await rejectedCount(metrics, 'VirtualService'), 1);
  t.match(log.entries.find((e) => e.level === 'error')?.obj, { kind: 'VirtualService', namespace: 'shop', name: 'bad', problems: 'spec.hosts: must be a non-empty list', keptLastGood: false });
  t.ok(api.requests.some((r) => r.path === DR_BETA && r.watch), 'the DestinationRule watch is on v1beta1');
  t.notOk(api.requests.some((r) => r.path.startsWith('/apis/networking.istio.io/v1/destinationrules')), 'the unserved v1 is never read');
  await until(() => api.openWatches(VS) === 1 && api.openWatches(DR_BETA) === 1, 'both watches open');
  const changes = recordChanges(store);

  // An update to invalid keeps the last good version; a valid update of another object goes through.
  api.apply(VS, 'MODIFIED', vs('a', 'shop', []));
  api.apply(DR_BETA, 'MODIFIED', dr('r', 'shop', 'r2'));
  await until(() => changes.length === 1, 'the DestinationRule change');
  t.same(changes[0]?.kinds, { DestinationRule: { added: [], updated: ['DestinationRule/shop/r'], deleted: [] } }, 'only the valid change');
  t.same(store.get('VirtualService', 'shop', 'a')?.spec, { hosts: ['a'] }, 'the last good VirtualService stays');
  t.equal(await rejectedCount(metrics, 'VirtualService'), 2);

  // A CRD installed after start is picked up.
  installCrd(api, 'networking.istio.io', 'ServiceEntry', 'serviceentries', [['v1', true]]);
  api.apply(SE, 'ADDED', se('ext', 'shop'));
  await until(() => changes.length === 2, 'the ServiceEntry');
  t.same(changes[1]?.kinds, { ServiceEntry: { added: ['ServiceEntry/shop/ext'], updated: [], deleted: [] } });

  // History compacted while the watch is down: 410 Gone, re-list, and the missed deletion is seen.
  api.endWatches(VS);
  api.apply(VS, 'ADDED', vs('c', 'shop', ['c']));
  api.apply(VS, 'DELETED', vs('a', 'shop', []));
  api.compact(VS);
  await until(() => changes.length === 3, 'the change seen through the re-list');
  t.same(changes[2]?.kinds, { VirtualService: { added: ['VirtualService/shop/c'], updated: [], deleted: ['VirtualService/shop/a'] } }, 'one event for the re-list');
  t.equal(api.requests.filter((r) => r.path === VS && !r.watch).length, 2, 're-listed once after 410');

  // A 500 on the watch: restarted with backoff, resuming without a re-list.
  await until(() => api.openWatches(VS) === 1, 'watching again');
  api.failNextWatch(VS, 500);
  api.endWatches(VS);
  await until(() => api.openWatches(VS) === 1, 'watch re-established after a 500');
  api.apply(VS, 'MODIFIED', vs('c', 'shop', ['c2']));
  await until(() => changes.length === 4, 'the event after the 500');
  t.same(changes[3]?.kinds, { VirtualService: { added: [], updated: ['VirtualService/shop/c'], deleted: [] } });
  t.match(log.entries.find((e) => e.msg?.includes('retrying'))?.obj, { what: 'virtualservices.networking.istio.io/v1', status: 500 });

  // A watch connection dropped mid-stream: resynced.
  api.dropWatches(DR_BETA);
  await until(() => api.openWatches(DR_BETA) === 1, 'DestinationRule watch re-established after the drop');
  api.apply(DR_BETA, 'DELETED', dr('r', 'shop', 'r2'));
  await until(() => changes.length === 5, 'the deletion after the drop');
  t.same(changes[4]?.kinds, { DestinationRule: { added: [], updated: [], deleted: ['DestinationRule/shop/r'] } });
  t.equal(api.requests.filter((r) => r.path === VS && !r.watch).length, 2, 'no extra re-list for a 500');

  // Deleting a CRD removes its objects.
  api.removeCollection(SE);
  api.apply(CRDS, 'DELETED', crd('networking.istio.io', 'ServiceEntry', 'serviceentries', [['v1', true]]));
  await until(() => changes.length === 6, 'the CRD deletion');
  t.same(changes[5]?.kinds, { ServiceEntry: { added: [], updated: [], deleted: ['ServiceEntry/shop/ext'] } });

  await new Promise((r) => setTimeout(r, 100));
  t.equal(changes.length, 6, 'nothing duplicated');
});

t.test('no CRDs installed yet: synced with nothing, then a CRD appears; an unreachable API is retried, never thrown', async (t) => {
  const { api, port } = await emulator(t);
  const store = await createKubernetesConfigStore({ kubeConfig: emulatorKubeConfig(port), validate: testValidator, metrics: freshMetrics(), retryMs: 20 });
  t.teardown(() => store.close());
  await store.synced;
  t.equal(store.snapshot().size, 0);
  const changes = recordChanges(store);
  // created, not yet Established: nothing is read until the apiserver establishes it
  api.addCollection(VS, 'VirtualService', 'networking.istio.io/v1');
  api.apply(VS, 'ADDED', vs('late', 'shop', ['late']));
  api.apply(CRDS, 'ADDED', crd('networking.istio.io', 'VirtualService', 'virtualservices', [['v1', true]], 'False'));
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(api.requests.some((r) => r.path === VS), 'a CRD not yet established is not read');
  api.apply(CRDS, 'MODIFIED', crd('networking.istio.io', 'VirtualService', 'virtualservices', [['v1', true]]));
  await until(() => changes.length === 1, 'the object of the late CRD');
  t.same(changes[0]?.kinds, { VirtualService: { added: ['VirtualService/shop/late'], updated: [], deleted: [] } });

  const dead = new EmulatedApiServer();
  const deadPort = await dead.start();
  await dead.close();
  const log = recordingLogger();
  const s2 = await createKubernetesConfigStore({ kubeConfig: emulatorKubeConfig(deadPort), validate: testValidator, log, retryMs: 10, maxRetryMs: 40 });
  await until(() => log.entries.filter((e) => e.msg?.includes('retrying')).length >= 3, 'retries against the unreachable API');
  t.notOk(s2.hasSynced(), 'not synced while the API is unreachable');
  const delays = log.entries.filter((e) => e.msg?.includes('retrying')).map((e) => e.obj['retryInMs']);
  t.same(delays.slice(0, 3), [10, 20, 40], 'exponential backoff, capped');
  await s2.close();
});

t.test('discoverySelectors: only selected namespaces; relabelling adds and removes their objects', async (t) => {
  const { api, port } = await emulator(t);
  api.addCollection(NAMESPACES, 'Namespace', 'v1', false);
  api.apply(NAMESPACES, 'ADDED', { metadata: { name: 'shop', labels: { mesh: 'on' } } });
  api.apply(NAMESPACES, 'ADDED', { metadata: { name: 'web', labels: { team: 'web' } } });
  api.apply(NAMESPACES, 'ADDED', { metadata: { name: 'ops', labels: {} } });
  installCrd(api, 'networking.istio.io', 'VirtualService', 'virtualservices', [['v1', true]]);
  for (const ns of ['shop', 'web', 'ops']) api.apply(VS, 'ADDED', vs('v', ns, [ns]));

  const mesh = { discoverySelectors: [{ matchLabels: { mesh: 'on' } }, { matchExpressions: [{ key: 'team', operator: 'In' as const, values: ['web', 'api'] }] }] };
  const store = await createKubernetesConfigStore({ kubeConfig: emulatorKubeConfig(port), validate: testValidator, metrics: freshMetrics(), mesh, retryMs: 20 });
  t.teardown(() => store.close());
  await store.synced;
  t.same(store.list('VirtualService').map((o) => o.metadata.namespace), ['shop', 'web'], 'OR of the selectors');
  await until(() => api.openWatches(NAMESPACES) === 1, 'watching namespaces');
  const changes = recordChanges(store);

  api.apply(NAMESPACES, 'MODIFIED', { metadata: { name: 'ops', labels: { mesh: 'on' } } });
  await until(() => changes.length === 1, 'ops selected');
  t.same(changes[0]?.kinds, { VirtualService: { added: ['VirtualService/ops/v'], updated: [], deleted: [] } });

  api.apply(NAMESPACES, 'MODIFIED', { metadata: { name: 'web', labels: { team: 'other' } } });
  await until(() => changes.length === 2, 'web deselected');
  t.same(changes[1]?.kinds, { VirtualService: { added: [], updated: [], deleted: ['VirtualService/web/v'] } });

  // objects in a namespace not selected are remembered, not shown
  api.apply(VS, 'MODIFIED', vs('v', 'web', ['web2']));
  api.apply(VS, 'MODIFIED', vs('v', 'shop', ['shop2']));
  await until(() => changes.length === 3, 'the shop update');
  t.same(changes[2]?.kinds, { VirtualService: { added: [], updated: ['VirtualService/shop/v'], deleted: [] } });
  api.apply(NAMESPACES, 'MODIFIED', { metadata: { name: 'web', labels: { team: 'api' } } });
  await until(() => changes.length === 4, 'web selected again');
  t.same(store.get('VirtualService', 'web', 'v')?.spec, { hosts: ['web2'] }, 'with its latest version');

  // a new mesh config without selectors selects everything
  store.setMesh({ discoverySelectors: [] });
  await until(() => store.list('VirtualService').length === 3, 'all namespaces');
  t.pass('every namespace once the selectors are gone');
});
