// The Kubernetes side of these tests runs against an EMULATED apiserver (test/certs/apiserver-emulator.ts:
// Secrets with strict-schema validation, resourceVersions, 409 on create races); no kube-apiserver runs here.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadAuthority, type PluginPems } from '../../ca/authority.js';
import { loadDirCa } from '../../ca/dir-source.js';
import { loadSecretCa } from '../../ca/secret-source.js';
import { createCa, issueServingCert, validityFor } from '../../certs/x509.js';
import { UserError } from '../../common/errors.js';
import { type Emulator, startTlsEmulator } from '../certs/apiserver-emulator.js';
import { pluginIntermediate, selfSignedAuthority, where } from './helpers.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

t.test('loadAuthority refuses broken plug-in material, naming the part', async (t) => {
  const good = (await pluginIntermediate()).pems;
  const other = (await pluginIntermediate()).pems;
  const w = where('cacerts');
  const expiredCa = await createCa({ validity: { notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) } });
  const leafNotCa = await issueServingCert({ ca: await createCa({ validity: validityFor(1) }), dnsNames: ['x'], validity: validityFor(1) });
  const cases: { name: string; pems: PluginPems; error: RegExp }[] = [
    { name: 'key of another CA', pems: { ...good, caKey: other.caKey }, error: /^cacerts ca-key\.pem: does not match the public key of cacerts ca-cert\.pem$/ },
    { name: 'garbage key', pems: { ...good, caKey: 'nope' }, error: /^cacerts ca-key\.pem: not a PEM private key/ },
    { name: 'no certificate', pems: { ...good, caCert: 'nope' }, error: /^cacerts ca-cert\.pem: no PEM certificate found$/ },
    { name: 'two signing certificates', pems: { ...good, caCert: good.caCert + good.rootCert }, error: /^cacerts ca-cert\.pem: expected exactly one certificate, found 2$/ },
    { name: 'root of another mesh', pems: { ...good, certChain: good.caCert, rootCert: other.rootCert }, error: /^cacerts cert-chain\.pem: cacerts ca-cert\.pem does not chain up to a root of cacerts root-cert\.pem$/ },
    { name: 'root that is not self-signed', pems: { ...good, rootCert: good.caCert }, error: /^cacerts root-cert\.pem: certificate ".*Intermediate CA.*" is not self-signed$/ },
    { name: 'not a CA', pems: { caCert: leafNotCa.certPem, caKey: leafNotCa.keyPem, certChain: leafNotCa.certPem, rootCert: good.rootCert }, error: /^cacerts ca-cert\.pem: is not a CA certificate/ },
    { name: 'expired CA', pems: { caCert: expiredCa.certPem, caKey: expiredCa.keyPem, certChain: expiredCa.certPem, rootCert: expiredCa.certPem }, error: /^cacerts ca-cert\.pem: expired on / },
  ];
  for (const c of cases) {
    const err = await loadAuthority(c.pems, w).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof UserError, `${c.name}: a UserError`);
    t.match((err as Error | undefined)?.message, c.error, c.name);
  }
  const both = await loadAuthority({ ...good, rootCert: good.rootCert + other.rootCert }, w);
  t.equal((both.rootsPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'a root-cert.pem with two roots (a rotation) trusts both');
});

t.test('local directory: created once, then loaded; a broken one is an error, not a new root', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-ca-dir-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await loadDirCa(join(dir, 'ca'));
  t.equal(first.created, true);
  const second = await loadDirCa(join(dir, 'ca'));
  t.equal(second.created, false);
  t.equal(second.authority.caCert.fingerprint256, first.authority.caCert.fingerprint256);
  await writeFile(join(dir, 'ca', 'ca-key.pem'), (await createCa({ validity: validityFor(1) })).keyPem);
  await t.rejects(loadDirCa(join(dir, 'ca')), { message: `${join(dir, 'ca', 'ca-key.pem')}: does not match the public key of ${join(dir, 'ca', 'ca-cert.pem')}` });
  await chmod(join(dir, 'ca', 'root-cert.pem'), 0o000);
  if (process.getuid?.() !== 0) await t.rejects(loadDirCa(join(dir, 'ca')), /cannot read .*root-cert\.pem \(EACCES\)/);
});

let emu: Emulator;
let emuCa: string;
let kubeConfig: () => KubeConfig;
t.before(async () => {
  ({ emu, caPem: emuCa, kubeConfig } = await startTlsEmulator());
});
t.teardown(() => emu.close());

t.test('Secret tandem-ca: created once by the first replica; racing replicas adopt one root', async (t) => {
  const ns = 'race-ns';
  emu.holdReads('secrets', `${ns}/tandem-ca`, 3);
  const results = await Promise.all([1, 2, 3].map(() => loadSecretCa({ kubeConfig: kubeConfig(), namespace: ns })));
  t.equal(results.filter((r) => r.created).length, 1, 'exactly one replica created the Secret');
  t.same(new Set(results.map((r) => r.authority.caCert.fingerprint256)).size, 1, 'every replica signs under the same root');
  const stored = emu.get('secrets', 'tandem-ca', ns)!;
  t.equal(stored['type'], 'istio.io/ca-root');
  const data = stored['data'] as Record<string, string>;
  t.same(Object.keys(data).sort(), ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']);
  t.equal(new X509Certificate(Buffer.from(data['root-cert.pem']!, 'base64')).fingerprint256, results[0]!.authority.caCert.fingerprint256);
  const posts = emu.log.filter((l) => l.method === 'POST' && l.path === `/api/v1/namespaces/${ns}/secrets`);
  t.same(posts.map((p) => p.status).sort(), [201, 409, 409]);
  const again = await loadSecretCa({ kubeConfig: kubeConfig(), namespace: ns });
  t.equal(again.created, false);
  t.equal(again.authority.caCert.fingerprint256, results[0]!.authority.caCert.fingerprint256);
});

t.test('Secret cacerts wins over tandem-ca; a broken cacerts stops start-up and creates nothing', async (t) => {
  const ns = 'plugin-ns';
  const plugin = await pluginIntermediate();
  const data = { 'ca-cert.pem': b64(plugin.pems.caCert), 'ca-key.pem': b64(plugin.pems.caKey), 'cert-chain.pem': b64(plugin.pems.certChain), 'root-cert.pem': b64(plugin.pems.rootCert) };
  emu.seed('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: ns }, data });
  const r = await loadSecretCa({ kubeConfig: kubeConfig(), namespace: ns });
  t.equal(r.source, 'cacerts');
  t.equal(r.authority.intermediate, true);
  t.equal(r.authority.caCert.fingerprint256, new X509Certificate(plugin.intermediatePem).fingerprint256);

  const broken = 'broken-ns';
  const { 'ca-key.pem': _k, ...noKey } = data;
  emu.seed('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: broken }, data: noKey });
  await t.rejects(loadSecretCa({ kubeConfig: kubeConfig(), namespace: broken }), { message: `Secret ${broken}/cacerts key ca-key.pem: missing` });
  emu.seed('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: broken }, data: { ...data, 'ca-key.pem': b64((await selfSignedAuthority()).pems.caKey) } });
  await t.rejects(loadSecretCa({ kubeConfig: kubeConfig(), namespace: broken }), { message: `Secret ${broken}/cacerts key ca-key.pem: does not match the public key of Secret ${broken}/cacerts key ca-cert.pem` });
  t.equal(emu.get('secrets', 'tandem-ca', broken), undefined, 'no fallback to a self-signed root');
});

t.test('the plug-in files written by tandem ca init load back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-ca-rt-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await loadDirCa(dir);
  t.match(await readFile(join(dir, 'root-cert.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----/);
});
