// The Kubernetes side of these tests runs against an EMULATED apiserver (see
// apiserver-emulator.ts): no kube-apiserver can run here. @kubernetes/client-node talks to it
// for real over HTTPS.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../../common/errors.js';
import { ensureSecretCerts, patchWebhookCaBundle } from '../../certs/self-managed.js';
import { startSelfManagedCerts, syncSelfManagedCerts } from '../../certs/sync.js';
import { createCa, issueServingCert, validityFor } from '../../certs/x509.js';
import { main } from '../../cli/main.js';
import { type Emulator, startTlsEmulator } from './apiserver-emulator.js';

const exec = promisify(execFile);
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

let emu: Emulator;
let emuCa: string;

let kubeConfig: () => KubeConfig;
t.before(async () => {
  ({ emu, caPem: emuCa, kubeConfig } = await startTlsEmulator());
});
t.teardown(() => emu.close());

function seedWebhookConfig(name: string): void {
  const webhook = (n: string): Record<string, unknown> => ({
    name: n,
    admissionReviewVersions: ['v1', 'v1beta1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    clientConfig: { service: { name: 'tandem-webhook', namespace: 'tandem-system', path: '/inject', port: 443 } },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
  });
  emu.seed('mutatingwebhookconfigurations', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [webhook('namespace.sidecar-injector.istio.io'), webhook('object.sidecar-injector.istio.io')],
  });
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-selfmanaged-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function writes(from: number): { method: string; path: string; status: number }[] {
  return emu.log.slice(from).filter((l) => l.method !== 'GET');
}

t.test('first start creates the Secret, writes the local files and the caBundle; the next sync changes nothing', async (t) => {
  seedWebhookConfig('injector-a');
  const dir = await tempDir(t);
  const opts = { kubeConfig: kubeConfig(), dir, secretNamespace: 'ns-a', webhookConfigName: 'injector-a' };
  const r = await syncSelfManagedCerts(opts);
  t.equal(r.secret.action, 'created');
  t.equal(r.wroteFiles, true);
  t.equal(r.caBundle?.changed, true);
  t.same(r.caBundle?.webhooks, ['namespace.sidecar-injector.istio.io', 'object.sidecar-injector.istio.io']);

  const secret = emu.get('secrets', 'tandem-webhook-certs', 'ns-a') as { type: string; data: Record<string, string> };
  t.equal(secret.type, 'kubernetes.io/tls');
  t.same(Object.keys(secret.data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
  t.equal(await readFile(join(dir, 'tls.crt'), 'utf8'), unb64(secret.data['tls.crt']!), 'local file = Secret');
  t.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), unb64(secret.data['ca.crt']!));
  t.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);
  await t.rejects(stat(join(dir, 'ca.key')), { code: 'ENOENT' }, 'the CA key stays in the Secret');
  const { stdout } = await exec('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]);
  t.match(stdout, /: OK/);

  const mwc = emu.get('mutatingwebhookconfigurations', 'injector-a') as { webhooks: { clientConfig: { caBundle: string } }[] };
  for (const w of mwc.webhooks) t.equal(w.clientConfig.caBundle, secret.data['ca.crt'], 'caBundle = the Secret CA');

  const mark = emu.log.length;
  const again = await syncSelfManagedCerts(opts);
  t.equal(again.secret.action, 'kept');
  t.equal(again.wroteFiles, false);
  t.equal(again.caBundle?.changed, false);
  t.same(writes(mark), [], 'no write request the second time');
});

t.test('two replicas starting together: one creates, the other adopts (no second CA)', async (t) => {
  seedWebhookConfig('injector-b');
  const [d1, d2] = [await tempDir(t), await tempDir(t)];
  emu.holdReads('secrets', 'ns-b/tandem-webhook-certs', 2);
  const mark = emu.log.length;
  const [r1, r2] = await Promise.all([
    syncSelfManagedCerts({ kubeConfig: kubeConfig(), dir: d1, secretNamespace: 'ns-b', webhookConfigName: 'injector-b' }),
    syncSelfManagedCerts({ kubeConfig: kubeConfig(), dir: d2, secretNamespace: 'ns-b', webhookConfigName: 'injector-b' }),
  ]);
  t.same([r1.secret.action, r2.secret.action].sort(), ['created', 'kept']);
  t.equal(r1.secret.conflicts + r2.secret.conflicts, 1, 'the loser saw exactly one 409');
  const posts = writes(mark).filter((w) => w.path.endsWith('/secrets'));
  t.same(posts.map((p) => p.status).sort(), [201, 409], 'one create won, one got AlreadyExists');
  const secret = emu.get('secrets', 'tandem-webhook-certs', 'ns-b') as { data: Record<string, string> };
  t.equal(await readFile(join(d1, 'tls.crt'), 'utf8'), unb64(secret.data['tls.crt']!));
  t.equal(await readFile(join(d2, 'tls.crt'), 'utf8'), unb64(secret.data['tls.crt']!), 'both replicas serve the stored pair');
  const mwc = emu.get('mutatingwebhookconfigurations', 'injector-b') as { webhooks: { clientConfig: { caBundle: string } }[] };
  t.same(mwc.webhooks.map((w) => w.clientConfig.caBundle), [secret.data['ca.crt'], secret.data['ca.crt']]);
});

t.test('renewal at 2/3 of the lifetime keeps the CA; racing renewers do not lose an update', async (t) => {
  const kc = kubeConfig();
  const created = await ensureSecretCerts({ kubeConfig: kc, secretNamespace: 'ns-c', days: 30 });
  t.equal(created.action, 'created');
  // Just past 2/3 of the lifetime, from the certificate itself (not from the code under test).
  const leaf = new X509Certificate(created.bundle.certPem);
  const from = Date.parse(leaf.validFrom);
  const later = new Date(from + ((Date.parse(leaf.validTo) - from) * 2) / 3 + 60_000);

  emu.holdReads('secrets', 'ns-c/tandem-webhook-certs', 2);
  const mark = emu.log.length;
  const [a, b] = await Promise.all([
    ensureSecretCerts({ kubeConfig: kubeConfig(), secretNamespace: 'ns-c', days: 30, now: later }),
    ensureSecretCerts({ kubeConfig: kubeConfig(), secretNamespace: 'ns-c', days: 30, now: later }),
  ]);
  t.same([a.action, b.action].sort(), ['kept', 'renewed']);
  t.same(writes(mark).map((w) => `${w.method} ${w.status}`).sort(), ['PUT 200', 'PUT 409'], 'one replace won, one conflicted');
  const secret = emu.get('secrets', 'tandem-webhook-certs', 'ns-c') as { data: Record<string, string> };
  t.equal(a.bundle.certPem, unb64(secret.data['tls.crt']!), 'replica A ends with the stored cert');
  t.equal(b.bundle.certPem, unb64(secret.data['tls.crt']!), 'replica B ends with the stored cert');
  t.equal(unb64(secret.data['ca.crt']!), created.bundle.caPem, 'CA unchanged: the caBundle stays valid');
  t.not(new X509Certificate(a.bundle.certPem).serialNumber, created.serving.info.serialNumber, 'serving cert renewed');
});

t.test('the validating webhook gets the same caBundle; its absence is reported, not fatal', async (t) => {
  seedWebhookConfig('injector-v');
  emu.seed('validatingwebhookconfigurations', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'validator-v' },
    webhooks: [
      {
        name: 'validation.istio.io',
        admissionReviewVersions: ['v1', 'v1beta1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        clientConfig: { service: { name: 'tandem-webhook', namespace: 'tandem-system', path: '/validate', port: 443 } },
        rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['networking.istio.io'], apiVersions: ['*'], resources: ['virtualservices'] }],
      },
    ],
  });
  const dir = await tempDir(t);
  const r = await syncSelfManagedCerts({ kubeConfig: kubeConfig(), dir, secretNamespace: 'ns-v', webhookConfigName: 'injector-v', validatorConfigName: 'validator-v' });
  const secret = emu.get('secrets', 'tandem-webhook-certs', 'ns-v') as { data: Record<string, string> };
  const vwc = emu.get('validatingwebhookconfigurations', 'validator-v') as { webhooks: { clientConfig: { caBundle?: string } }[] };
  t.same(vwc.webhooks.map((w) => w.clientConfig.caBundle), [secret.data['ca.crt']], "the validator trusts the webhook's CA");
  t.match(r.validatorCaBundle, { changed: true, webhooks: ['validation.istio.io'] });

  const dir2 = await tempDir(t);
  const absent = await syncSelfManagedCerts({ kubeConfig: kubeConfig(), dir: dir2, secretNamespace: 'ns-v', webhookConfigName: 'injector-v', validatorConfigName: 'not-installed' });
  t.equal(absent.validatorCaBundle, 'missing', 'an uninstalled validator is reported');
  t.equal(absent.caBundle?.changed, false, 'the injector is still kept up to date');
});

t.test('concurrent caBundle patchers and an unrelated concurrent edit all survive', async (t) => {
  seedWebhookConfig('injector-d');
  const ca = (await createCa({ validity: validityFor(5) })).certPem;
  emu.holdReads('mutatingwebhookconfigurations', 'injector-d', 2);
  const [p1, p2] = await Promise.all([
    patchWebhookCaBundle({ kubeConfig: kubeConfig(), name: 'injector-d', caPem: ca }),
    patchWebhookCaBundle({ kubeConfig: kubeConfig(), name: 'injector-d', caPem: ca }),
  ]);
  t.same([p1.changed, p2.changed].sort(), [false, true], 'the loser re-read and found the work done');
  t.equal(p1.conflicts + p2.conflicts, 1);

  // An admin edits the object between our read and our write: our write conflicts, we re-read
  // and apply the caBundle on top of their change.
  const ca2 = (await createCa({ validity: validityFor(5) })).certPem;
  emu.beforeNextWrite('mutatingwebhookconfigurations', 'injector-d', (stored) => ({ ...stored, metadata: { ...stored.metadata, labels: { edited: 'by-admin' } } }));
  const p3 = await patchWebhookCaBundle({ kubeConfig: kubeConfig(), name: 'injector-d', caPem: ca2 });
  t.equal(p3.changed, true);
  t.equal(p3.conflicts, 1);
  const mwc = emu.get('mutatingwebhookconfigurations', 'injector-d') as { metadata: { labels?: Record<string, string> }; webhooks: { clientConfig: { caBundle: string } }[] };
  t.same(mwc.metadata.labels, { edited: 'by-admin' }, 'the concurrent edit is not lost');
  t.same(mwc.webhooks.map((w) => w.clientConfig.caBundle), [b64(ca2), b64(ca2)], 'the right caBundle');
});

t.test('errors: missing configuration, not a certificate', async (t) => {
  await t.rejects(patchWebhookCaBundle({ kubeConfig: kubeConfig(), name: 'absent', caPem: emuCa }), UserError);
  await t.rejects(patchWebhookCaBundle({ kubeConfig: kubeConfig(), name: 'absent', caPem: 'nope' }), { message: /no PEM certificate/ });
});

t.test('tandem certs patch-webhook --name NAME --ca FILE', async (t) => {
  seedWebhookConfig('injector-e');
  const dir = await tempDir(t);
  const kubeconfigFile = join(dir, 'kubeconfig');
  await writeFile(kubeconfigFile, kubeConfig().exportConfig());
  const ca = (await createCa({ validity: validityFor(5) })).certPem;
  await writeFile(join(dir, 'ca.crt'), ca);
  let out = '';
  let errOut = '';
  const saved = [process.stdout.write, process.stderr.write] as const;
  process.stdout.write = ((c: string | Uint8Array) => ((out += String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((errOut += String(c)), true)) as typeof process.stderr.write;
  let code: number;
  let missing: number;
  try {
    code = await main(['node', 'tandem', 'certs', 'patch-webhook', '--name', 'injector-e', '--ca', join(dir, 'ca.crt'), '--kubeconfig', kubeconfigFile]);
    missing = await main(['node', 'tandem', 'certs', 'patch-webhook', '--name', 'injector-e', '--ca', join(dir, 'nope.crt'), '--kubeconfig', kubeconfigFile]);
  } finally {
    [process.stdout.write, process.stderr.write] = saved;
    process.exitCode = undefined;
  }
  t.equal(code, 0, errOut);
  t.match(out, /caBundle set on 2 webhooks of injector-e/);
  const mwc = emu.get('mutatingwebhookconfigurations', 'injector-e') as { webhooks: { clientConfig: { caBundle: string } }[] };
  t.same(mwc.webhooks.map((w) => w.clientConfig.caBundle), [b64(ca), b64(ca)]);
  t.equal(missing, 1);
  t.match(errOut, /cannot read .*nope\.crt/);
});

t.test('the renewal loop brings a replica up to date when another replica renewed the Secret', async (t) => {
  seedWebhookConfig('injector-f');
  const dir = await tempDir(t);
  const syncs: boolean[] = [];
  const loop = await startSelfManagedCerts({
    kubeConfig: kubeConfig(), dir, secretNamespace: 'ns-f', webhookConfigName: 'injector-f', intervalMs: 50,
    onSync: (r) => syncs.push(r.wroteFiles),
  });
  t.teardown(() => loop.stop());
  t.equal(loop.first.secret.action, 'created');

  // Another replica renews the serving pair (same CA) in the Secret.
  const stored = emu.get('secrets', 'tandem-webhook-certs', 'ns-f') as { data: Record<string, string> };
  const ca = { certPem: unb64(stored.data['ca.crt']!), keyPem: unb64(stored.data['ca.key']!) };
  const next = await issueServingCert({ ca, dnsNames: ['tandem-webhook.tandem-system.svc', 'tandem-webhook.tandem-system.svc.cluster.local'], validity: validityFor(365) });
  emu.seed('secrets', { ...stored, metadata: { name: 'tandem-webhook-certs', namespace: 'ns-f' }, data: { ...stored.data, 'tls.crt': b64(next.certPem), 'tls.key': b64(next.keyPem) } });

  const deadline = Date.now() + 5000;
  while ((await readFile(join(dir, 'tls.crt'), 'utf8')) !== next.certPem) {
    if (Date.now() > deadline) throw new Error('local files never caught up with the Secret');
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(await readFile(join(dir, 'tls.key'), 'utf8'), next.keyPem, 'key follows');
  t.ok(syncs.includes(true), 'a later sync reported writing files');
});

t.test('a CA rotation keeps the old CA in the caBundle for a grace period, then drops it', async (t) => {
  seedWebhookConfig('injector-g');
  const dir = await tempDir(t);
  const opts = { kubeConfig: kubeConfig(), dir, secretNamespace: 'ns-g', webhookConfigName: 'injector-g' };
  const first = await syncSelfManagedCerts(opts);
  const oldCa = first.secret.bundle.caPem;
  const oldLeaf = first.secret.bundle.certPem;

  const rotated = await syncSelfManagedCerts({ ...opts, force: true, previousCaGraceMs: 3_600_000 });
  t.equal(rotated.secret.issued, 'ca-and-serving');
  t.not(rotated.secret.bundle.caPem, oldCa, 'new CA');
  const secret = emu.get('secrets', 'tandem-webhook-certs', 'ns-g') as { metadata: { annotations: Record<string, string> }; data: Record<string, string> };
  t.equal(unb64(secret.data['ca-previous.crt']!), oldCa, 'old CA kept in the Secret');
  const until = Date.parse(secret.metadata.annotations['tandem.io/previous-ca-trusted-until']!);
  t.ok(until > Date.now(), 'with a trust deadline in the future');

  // The caBundle trusts both: a replica still serving the old pair and one serving the new pair.
  const mwc = emu.get('mutatingwebhookconfigurations', 'injector-g') as { webhooks: { clientConfig: { caBundle: string } }[] };
  const bundleFile = join(dir, 'bundle.pem');
  await writeFile(bundleFile, unb64(mwc.webhooks[0]!.clientConfig.caBundle));
  await writeFile(join(dir, 'old.crt'), oldLeaf);
  for (const leaf of [join(dir, 'old.crt'), join(dir, 'tls.crt')]) {
    const { stdout } = await exec('openssl', ['verify', '-CAfile', bundleFile, leaf]);
    t.match(stdout, /: OK/, `${leaf} verifies against the caBundle`);
  }

  const after = await syncSelfManagedCerts({ ...opts, now: new Date(until + 60_000) });
  t.equal(after.secret.action, 'kept');
  t.equal(after.secret.trustPem, rotated.secret.bundle.caPem, 'after the grace period only the new CA is trusted');
  const mwc2 = emu.get('mutatingwebhookconfigurations', 'injector-g') as { webhooks: { clientConfig: { caBundle: string } }[] };
  await writeFile(bundleFile, unb64(mwc2.webhooks[0]!.clientConfig.caBundle));
  await t.rejects(exec('openssl', ['verify', '-CAfile', bundleFile, join(dir, 'old.crt')]), 'the old pair is no longer trusted');
});
