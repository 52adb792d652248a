// The mesh ConfigMap watcher against the EMULATED apiserver (test/control-plane/k8s-emulator.ts), and
// the --mesh-config file loader on a real file.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { UserError } from '../../../common/errors.js';
import { loadMeshConfigFile, meshFromConfigMap, watchMeshConfigMap } from '../../../config/mesh/source.js';
import type { MeshConfig } from '../../../config/mesh/mesh-config.js';
import { EmulatedApiServer, emulatorKubeConfig } from '../../control-plane/k8s-emulator.js';
import { recordingLogger, until } from '../store/helpers.js';

const CMS = '/api/v1/namespaces/tandem-system/configmaps';
const cm = (name: string, mesh?: string) => ({ metadata: { name, namespace: 'tandem-system' }, data: mesh === undefined ? {} : { mesh } });

t.test('meshFromConfigMap: the mesh key, defaults when absent, errors naming the ConfigMap', async (t) => {
  t.equal(meshFromConfigMap(cm('tandem-mesh', 'trustDomain: a.b')).mesh.trustDomain, 'a.b');
  t.same(meshFromConfigMap(cm('tandem-mesh')).warnings, ['ConfigMap tandem-system/tandem-mesh key mesh: absent; using the defaults']);
  t.throws(() => meshFromConfigMap(cm('tandem-mesh', 'enableTracing: 3')), { message: 'ConfigMap tandem-system/tandem-mesh key mesh: enableTracing: must be true or false, got 3' });
});

t.test('the ConfigMap watcher: defaults until it exists, updates, invalid keeps the last good, deletion back to defaults', async (t) => {
  const api = new EmulatedApiServer();
  api.addCollection(CMS, 'ConfigMap', 'v1');
  const port = await api.start();
  t.teardown(() => api.close());
  api.apply(CMS, 'ADDED', cm('other', 'rootNamespace: nope'));
  const log = recordingLogger();
  const w = watchMeshConfigMap({ kubeConfig: emulatorKubeConfig(port), log, retryMs: 20 });
  t.teardown(() => w.close());
  await w.synced;
  t.equal(w.current().trustDomain, 'cluster.local', 'defaults without the ConfigMap; other ConfigMaps ignored');
  const seen: MeshConfig[] = [];
  w.onChange((m) => seen.push(m));
  await until(() => api.openWatches(CMS) === 1, 'watching');

  api.apply(CMS, 'ADDED', cm('tandem-mesh', 'trustDomain: example.org\noutboundTrafficPolicy: {mode: REGISTRY_ONLY}\n'));
  await until(() => seen.length === 1, 'the new mesh config');
  t.equal(w.current().trustDomain, 'example.org');
  t.equal(w.current().outboundTrafficPolicy.mode, 'REGISTRY_ONLY');

  api.apply(CMS, 'MODIFIED', cm('tandem-mesh', 'trustDomain: [x]\n'));
  await until(() => log.entries.some((e) => e.level === 'error'), 'the refusal logged');
  t.match(log.entries.find((e) => e.level === 'error')?.obj, { configMap: 'tandem-system/tandem-mesh', err: /trustDomain: must be a string/ });
  t.equal(w.current().trustDomain, 'example.org', 'the last good mesh config stays');
  t.equal(seen.length, 1);

  api.apply(CMS, 'DELETED', cm('tandem-mesh'));
  await until(() => seen.length === 2, 'back to defaults');
  t.equal(w.current().trustDomain, 'cluster.local');
});

t.test('--mesh-config FILE', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-mesh-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'mesh.yaml');
  await writeFile(file, 'rootNamespace: istio-system\nmeshMTLS: {}\n');
  const log = recordingLogger();
  t.equal((await loadMeshConfigFile(file, log)).rootNamespace, 'istio-system');
  t.same(log.entries.map((e) => e.msg), [`${file}: meshMTLS: has no effect in tandem`], 'warnings logged');
  await t.rejects(loadMeshConfigFile(path.join(dir, 'missing.yaml')), UserError);
  await writeFile(file, 'accessLogEncoding: 1\n');
  await t.rejects(loadMeshConfigFile(file), { message: `${file}: accessLogEncoding: must be one of TEXT, JSON, got 1` });
});
