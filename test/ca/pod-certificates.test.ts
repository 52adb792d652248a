// Runs against the EMULATED apiserver (test/control-plane/k8s-emulator.ts with the PodCertificateRequest
// collection of ./pcr-emulation.ts: strict schema plus kube-apiserver's status rules); no
// kube-apiserver runs here. client-node talks to it for real over HTTP (list, watch, read, PUT /status).
import t, { type Test } from 'tap';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { loadAuthority, type Authority } from '../../ca/authority.js';
import { startPodCertificateSigner } from '../../ca/pod-certificates/signer.js';
import { EmulatedApiServer, emulatorKubeConfig } from '../control-plane/k8s-emulator.js';
import { opensslVerify, pluginIntermediate, selfSignedAuthority, where } from './helpers.js';
import { addPcrCollections, kubeletKey, PCRS, pcrFor, seedPod, type KubeletKey } from './pcr-emulation.js';

async function until(probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup(t: Test, authority: Authority, signers = 1): Promise<{ api: EmulatedApiServer; statusWrites: () => { path: string; status: number }[] }> {
  const api = new EmulatedApiServer();
  addPcrCollections(api);
  const port = await api.start();
  const running = Array.from({ length: signers }, () => startPodCertificateSigner({ kubeConfig: emulatorKubeConfig(port), authority: () => authority }));
  await Promise.all(running.map((s) => s.synced));
  t.teardown(async () => {
    await Promise.all(running.map((s) => s.stop()));
    await api.close();
  });
  return { api, statusWrites: () => api.writes.filter((w) => w.path.endsWith('/status')) };
}

const status = (api: EmulatedApiServer, ns: string, name: string): Record<string, any> | undefined => api.get(PCRS, name, ns)?.['status'];

t.test('issues for a meshed pod: chain, times, identity, key, written once', async (t) => {
  const { authority } = await selfSignedAuthority();
  const { api, statusWrites } = await setup(t, authority);
  const uid = seedPod(api, { namespace: 'demo', name: 'echo-1', serviceAccount: 'echo', meshed: true });
  const key = kubeletKey('p256');
  api.apply(PCRS, 'ADDED', pcrFor({ namespace: 'demo', name: 'req-1', podName: 'echo-1', podUID: uid, serviceAccount: 'echo', key, maxExpirationSeconds: 7200 }));
  await until(() => status(api, 'demo', 'req-1') !== undefined);
  const s = status(api, 'demo', 'req-1')!;
  t.same(s['conditions'].map((c: { type: string; status: string; reason: string }) => [c.type, c.status, c.reason]), [['Issued', 'True', 'Issued']]);
  const chain = String(s['certificateChain']);
  t.equal((chain.match(/BEGIN CERTIFICATE/g) ?? []).length, 1, 'the leaf alone (the root travels in istio-ca-root-cert)');
  const leaf = new X509Certificate(chain);
  t.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/demo/sa/echo');
  t.equal(leaf.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('hex'), 'for the kubelet\'s key');
  const nb = Date.parse(leaf.validFrom);
  const na = Date.parse(leaf.validTo);
  t.equal(na - nb, 7200_000, 'lifetime capped by maxExpirationSeconds (2 h < the 24 h default)');
  t.equal(Date.parse(s['notBefore']), nb);
  t.equal(Date.parse(s['notAfter']), na);
  t.equal(Date.parse(s['beginRefreshAt']), nb + 3600_000, 'beginRefreshAt at half-life');
  const v = await opensslVerify(authority.rootsPem, [chain]);
  t.ok(v.ok, v.output);
  await new Promise((r) => setTimeout(r, 200));
  t.same(statusWrites().map((w) => w.status), [200], 'one status write, none after its own update event');
});

t.test('denials, each with the API\'s Denied condition and a reason; nothing issued', async (t) => {
  const { authority } = await selfSignedAuthority();
  const { api } = await setup(t, authority);
  const meshed = seedPod(api, { namespace: 'demo', name: 'meshed', serviceAccount: 'echo', meshed: true });
  const plain = seedPod(api, { namespace: 'demo', name: 'plain', serviceAccount: 'echo', meshed: false });
  const cases: { name: string; pod: string; uid: string; sa?: string; key: KubeletKey; proofFor?: string; reason: string; message: RegExp }[] = [
    { name: 'not-in-mesh', pod: 'plain', uid: plain, key: 'p256', reason: 'NotInMesh', message: /pod demo\/plain is not in the mesh \(no security\.istio\.io\/tlsMode: istio label/ },
    { name: 'ed25519', pod: 'meshed', uid: meshed, key: 'ed25519', reason: 'UnsupportedKeyType', message: /^ED25519: ed25519 keys cannot be used by Envoy; use ECDSA P-256$/ },
    { name: 'p521', pod: 'meshed', uid: meshed, key: 'p521', reason: 'UnsupportedKeyType', message: /^ECDSA P-521: / },
    { name: 'bad-proof', pod: 'meshed', uid: meshed, key: 'p256', proofFor: 'another-uid', reason: 'InvalidProofOfPossession', message: /not a signature of the pod UID/ },
    { name: 'stale-uid', pod: 'meshed', uid: 'a-deleted-pod-uid', key: 'p256', reason: 'PodNotFound', message: /UID a-deleted-pod-uid does not exist/ },
    { name: 'no-pod', pod: 'gone', uid: meshed, key: 'p256', reason: 'PodNotFound', message: /pod demo\/gone/ },
    { name: 'other-sa', pod: 'meshed', uid: meshed, sa: 'admin', key: 'p256', reason: 'ServiceAccountMismatch', message: /runs as echo, not admin/ },
  ];
  for (const c of cases) api.apply(PCRS, 'ADDED', pcrFor({ namespace: 'demo', name: c.name, podName: c.pod, podUID: c.uid, serviceAccount: c.sa ?? 'echo', key: kubeletKey(c.key), ...(c.proofFor ? { proofFor: c.proofFor } : {}) }));
  api.apply(PCRS, 'ADDED', pcrFor({ namespace: 'demo', name: 'other-signer', podName: 'meshed', podUID: meshed, serviceAccount: 'echo', key: kubeletKey('p256'), signerName: 'example.com/other' }));
  await until(() => cases.every((c) => status(api, 'demo', c.name) !== undefined));
  for (const c of cases) {
    const s = status(api, 'demo', c.name)!;
    t.equal(s['certificateChain'], undefined, `${c.name}: no certificate`);
    t.equal(s['conditions'].length, 1);
    t.equal(s['conditions'][0].type, 'Denied', c.name);
    t.equal(s['conditions'][0].reason, c.reason, c.name);
    t.match(s['conditions'][0].message, c.message, c.name);
  }
  await new Promise((r) => setTimeout(r, 200));
  t.equal(status(api, 'demo', 'other-signer'), undefined, 'another signer\'s request is left alone');
});

t.test('under a cacerts intermediate, with RSA 3072 and P-384 keys', async (t) => {
  const plugin = await pluginIntermediate();
  const authority = await loadAuthority(plugin.pems, where('cacerts'));
  const { api } = await setup(t, authority);
  const uid = seedPod(api, { namespace: 'shop', name: 'cart-1', serviceAccount: 'cart', meshed: true });
  for (const k of ['rsa3072', 'p384'] as const) api.apply(PCRS, 'ADDED', pcrFor({ namespace: 'shop', name: k, podName: 'cart-1', podUID: uid, serviceAccount: 'cart', key: kubeletKey(k) }));
  await until(() => status(api, 'shop', 'rsa3072') !== undefined && status(api, 'shop', 'p384') !== undefined);
  for (const k of ['rsa3072', 'p384']) {
    const s = status(api, 'shop', k)!;
    t.equal(s['conditions'][0].type, 'Issued', k);
    const blocks = String(s['certificateChain']).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g)!;
    t.equal(blocks.length, 2, `${k}: leaf and intermediate`);
    t.equal(blocks[1]!.trim(), plugin.intermediatePem.trim());
    t.equal(Date.parse(s['notAfter']) - Date.parse(s['notBefore']), 86_400_000, `${k}: 24 h (default maxExpirationSeconds)`);
    const v = await opensslVerify(plugin.rootPem, blocks);
    t.ok(v.ok, `${k}: ${v.output}`);
  }
});

t.test('two signer replicas answer each request exactly once', async (t) => {
  const { authority } = await selfSignedAuthority();
  const { api, statusWrites } = await setup(t, authority, 2);
  const uid = seedPod(api, { namespace: 'demo', name: 'echo-1', serviceAccount: 'echo', meshed: true });
  const names = Array.from({ length: 6 }, (_, i) => `r-${i}`);
  for (const n of names) api.apply(PCRS, 'ADDED', pcrFor({ namespace: 'demo', name: n, podName: 'echo-1', podUID: uid, serviceAccount: 'echo', key: kubeletKey('p256') }));
  await until(() => names.every((n) => status(api, 'demo', n)?.['certificateChain'] !== undefined));
  await new Promise((r) => setTimeout(r, 300));
  const ok = statusWrites().filter((w) => w.status === 200);
  t.equal(ok.length, names.length, 'one successful status write per request');
  t.ok(statusWrites().every((w) => w.status === 200 || w.status === 409), 'the loser of a race gets 409 and stops');
});
