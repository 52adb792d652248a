// Runs against the EMULATED apiserver (test/control-plane/k8s-emulator.ts: namespaces and configmaps
// as REST collections, writes checked against the strict schemas of test/conformance/k8s-schemas);
// no kube-apiserver runs here. client-node lists, watches, reads, creates and replaces for real over HTTP.
import t, { type Test } from 'tap';
import { createRequire } from 'node:module';
import { X509Certificate } from 'node:crypto';
import { Ajv } from 'ajv';
import { KubeConfig } from '@kubernetes/client-node';
import { startRootDistribution, type RootDistribution } from '../../ca/root-distribution/controller.js';
import { initialTrust, rotateTrust, trustBundle } from '../../ca/root-distribution/trust.js';
import { createCa } from '../../certs/x509.js';
import { conformancePath } from '../conformance.js';
import { EmulatedApiServer } from '../control-plane/k8s-emulator.js';

const require = createRequire(import.meta.url);
const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
const checkConfigMap = ajv.compile(require(conformancePath('k8s-schemas', 'configmap-v1.json')) as object);
const checkNamespace = ajv.compile(require(conformancePath('k8s-schemas', 'namespace-v1.json')) as object);
const NAMESPACES = '/api/v1/namespaces';
const CONFIGMAPS = '/api/v1/configmaps';

async function root(validForMs: number): Promise<string> {
  const now = Date.now();
  return (await createCa({ commonName: `root ${Math.random()}`, validity: { notBefore: new Date(now - 60_000), notAfter: new Date(now + validForMs) } })).certPem;
}

const fingerprints = (pem: string | undefined): string[] => (pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? []).map((p) => new X509Certificate(p).fingerprint256);

async function until(probe: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup(t: Test, rootsPem: string, now: () => Date): Promise<{ api: EmulatedApiServer; ctl: RootDistribution }> {
  const api = new EmulatedApiServer();
  api.addCollection(NAMESPACES, 'Namespace', 'v1', { plural: 'namespaces', namespaced: false, validate: (o) => (checkNamespace(o) ? undefined : ajv.errorsText(checkNamespace.errors)) });
  api.addCollection(CONFIGMAPS, 'ConfigMap', 'v1', { plural: 'configmaps', namespaced: true, validate: (o) => (checkConfigMap(o) ? undefined : ajv.errorsText(checkConfigMap.errors)) });
  for (const name of ['demo', 'shop', 'kube-system', 'kube-public']) api.apply(NAMESPACES, 'ADDED', { metadata: { name }, status: { phase: 'Active' } });
  api.apply(NAMESPACES, 'ADDED', { metadata: { name: 'leaving', deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { phase: 'Terminating' } });
  const port = await api.start();
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'e', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'c', cluster: 'e', user: 'u' }], currentContext: 'c' });
  const ctl = startRootDistribution({ kubeConfig: kc, rootsPem, now });
  await ctl.synced;
  t.teardown(async () => {
    await ctl.stop();
    await api.close();
  });
  return { api, ctl };
}

const rootCert = (api: EmulatedApiServer, ns: string): string | undefined => api.get(CONFIGMAPS, 'istio-ca-root-cert', ns)?.['data']?.['root-cert.pem'];

t.test('the ConfigMap in every mesh namespace: created, recreated, restored', async (t) => {
  const a = await root(86_400_000);
  const { api, ctl } = await setup(t, a, () => new Date());
  await until(() => rootCert(api, 'demo') !== undefined && rootCert(api, 'shop') !== undefined, 'ConfigMaps');
  await ctl.idle();
  t.same(fingerprints(rootCert(api, 'demo')), fingerprints(a));
  const cm = api.get(CONFIGMAPS, 'istio-ca-root-cert', 'demo')!;
  t.same(cm['metadata'].labels, { 'istio.io/config': 'true' });
  t.same(Object.keys(cm['data']), ['root-cert.pem']);
  for (const ns of ['kube-system', 'kube-public', 'leaving']) t.equal(api.get(CONFIGMAPS, 'istio-ca-root-cert', ns), undefined, `none in ${ns}`);

  api.apply(CONFIGMAPS, 'DELETED', cm);
  await until(() => rootCert(api, 'demo') !== undefined, 'recreation');
  t.same(fingerprints(rootCert(api, 'demo')), fingerprints(a), 'recreated after deletion');

  const shop = api.get(CONFIGMAPS, 'istio-ca-root-cert', 'shop')!;
  api.apply(CONFIGMAPS, 'MODIFIED', { ...shop, data: { 'root-cert.pem': 'tampered', extra: 'x' } });
  await until(() => rootCert(api, 'shop') !== 'tampered', 'restore');
  await ctl.idle();
  t.same(api.get(CONFIGMAPS, 'istio-ca-root-cert', 'shop')!['data'], { 'root-cert.pem': rootCert(api, 'demo') }, 'restored after an edit, extra keys dropped');

  api.apply(NAMESPACES, 'ADDED', { metadata: { name: 'fresh' }, status: { phase: 'Active' } });
  await until(() => rootCert(api, 'fresh') !== undefined, 'new namespace');
  t.pass('a new namespace gets it');

  const unrelated = { metadata: { name: 'other', namespace: 'demo' }, data: { a: 'b' } };
  api.apply(CONFIGMAPS, 'ADDED', unrelated);
  await new Promise((r) => setTimeout(r, 100));
  await ctl.idle();
  t.same(api.get(CONFIGMAPS, 'other', 'demo')!['data'], { a: 'b' }, 'other ConfigMaps untouched');
});

t.test('root rotation: both roots trusted until the old one expires', async (t) => {
  const old = await root(3_600_000);
  const next = await root(10 * 86_400_000);
  let clock = new Date();
  const { api, ctl } = await setup(t, old, () => clock);
  await until(() => rootCert(api, 'demo') !== undefined, 'ConfigMap');
  ctl.setRoots(next);
  await until(() => fingerprints(rootCert(api, 'demo')).length === 2 && fingerprints(rootCert(api, 'shop')).length === 2, 'both roots');
  t.same(fingerprints(rootCert(api, 'demo')), [...fingerprints(next), ...fingerprints(old)], 'new root first, old one kept');
  clock = new Date(Date.now() + 2 * 3_600_000);
  ctl.resync();
  await until(() => fingerprints(rootCert(api, 'demo')).length === 1, 'old root dropped');
  await ctl.idle();
  t.same(fingerprints(rootCert(api, 'shop')), fingerprints(next), 'after the old root expired only the new one remains');
});

t.test('trust state, pure', async (t) => {
  const a = await root(3_600_000);
  const b = await root(86_400_000);
  const now = new Date();
  const s1 = rotateTrust(initialTrust(a), b, now);
  t.same(fingerprints(trustBundle(s1, now)), [...fingerprints(b), ...fingerprints(a)]);
  const s2 = rotateTrust(s1, b + a, now);
  t.same(fingerprints(trustBundle(s2, now)), [...fingerprints(b), ...fingerprints(a)], 'no duplicate when the CA lists both roots itself');
  const later = new Date(now.getTime() + 2 * 3_600_000);
  t.same(fingerprints(trustBundle(s1, later)), fingerprints(b));
  t.same(rotateTrust(s1, b, later).previous, [], 'an expired root is forgotten at the next rotation');
});
