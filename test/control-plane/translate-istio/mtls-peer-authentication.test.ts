/**
 * PeerAuthentication resolution (control-plane/model/peer-authentication.ts) against Istio's rules
 * (pilot/pkg/security/authn ComposePeerAuthentication, model getConfigsForWorkload), each case
 * written from those rules by hand.
 */
import t from 'tap';
import type { ConfigObject } from '../../../config/model.js';
import { indexPeerAuthentications, namespaceMtls, portMtls, workloadMtls } from '../../../control-plane/model/peer-authentication.js';

const ROOT = 'istio-system';

function pa(namespace: string, name: string, spec: Record<string, unknown>, creationTimestamp?: string): ConfigObject {
  const metadata: Record<string, unknown> = { name, namespace };
  if (creationTimestamp) metadata['creationTimestamp'] = creationTimestamp;
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata, spec } as unknown as ConfigObject;
}

function resolve(configs: ConfigObject[], namespace: string, labels: Record<string, string> = {}): { mode: string; ports: Record<string, string> } {
  const m = workloadMtls(indexPeerAuthentications(configs), ROOT, { namespace, labels });
  return { mode: m.mode, ports: Object.fromEntries([...m.ports].map(([p, v]) => [String(p), v])) };
}

t.test('no policy: PERMISSIVE', async (t) => {
  t.same(resolve([], 'shop'), { mode: 'PERMISSIVE', ports: {} });
});

t.test('mesh, namespace and workload scopes: the narrowest set one wins', async (t) => {
  const mesh = pa(ROOT, 'default', { mtls: { mode: 'STRICT' } });
  const ns = pa('shop', 'default', { mtls: { mode: 'DISABLE' } });
  const wl = pa('shop', 'reviews', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'PERMISSIVE' } });
  t.same(resolve([mesh], 'shop').mode, 'STRICT', 'mesh-wide applies everywhere');
  t.same(resolve([mesh], ROOT).mode, 'STRICT', 'and in the root namespace itself');
  t.same(resolve([mesh, ns], 'shop').mode, 'DISABLE', 'namespace over mesh');
  t.same(resolve([mesh, ns], 'data').mode, 'STRICT', 'another namespace keeps the mesh mode');
  t.same(resolve([mesh, ns, wl], 'shop', { app: 'reviews', version: 'v1' }).mode, 'PERMISSIVE', 'workload over namespace');
  t.same(resolve([mesh, ns, wl], 'shop', { app: 'ratings' }).mode, 'DISABLE', 'a selector that does not match is ignored');
  t.same(resolve([mesh, ns, wl], 'data', { app: 'reviews' }).mode, 'STRICT', 'a workload policy binds only its namespace');
});

t.test('UNSET and a missing mtls inherit from the parent scope', async (t) => {
  const mesh = pa(ROOT, 'default', { mtls: { mode: 'STRICT' } });
  t.same(resolve([mesh, pa('shop', 'default', { mtls: { mode: 'UNSET' } })], 'shop').mode, 'STRICT');
  t.same(resolve([mesh, pa('shop', 'default', {})], 'shop').mode, 'STRICT');
  t.same(resolve([mesh, pa('shop', 'w', { selector: { matchLabels: { app: 'a' } } })], 'shop', { app: 'a' }).mode, 'STRICT', 'a workload policy with only portLevel settings inherits');
  t.same(resolve([pa(ROOT, 'default', { mtls: { mode: 'UNSET' } })], 'shop').mode, 'PERMISSIVE', 'UNSET all the way: PERMISSIVE');
});

t.test('portLevelMtls: read from the workload policy only; UNSET ports take the workload mode', async (t) => {
  const ns = pa('shop', 'default', { mtls: { mode: 'STRICT' } });
  const wl = pa('shop', 'reviews', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'PERMISSIVE' }, portLevelMtls: { '8080': { mode: 'DISABLE' }, '9090': { mode: 'UNSET' }, '7070': { mode: 'STRICT' } } });
  const r = resolve([ns, wl], 'shop', { app: 'reviews' });
  t.same(r, { mode: 'PERMISSIVE', ports: { '7070': 'STRICT', '8080': 'DISABLE', '9090': 'PERMISSIVE' } });
  const m = workloadMtls(indexPeerAuthentications([ns, wl]), ROOT, { namespace: 'shop', labels: { app: 'reviews' } });
  t.equal(portMtls(m, 8080), 'DISABLE');
  t.equal(portMtls(m, 1234), 'PERMISSIVE', 'other ports: the workload mode');
  const nsWithPorts = pa('data', 'default', { mtls: { mode: 'STRICT' }, portLevelMtls: { '8080': { mode: 'DISABLE' } } });
  t.same(resolve([nsWithPorts], 'data'), { mode: 'STRICT', ports: {} }, 'portLevelMtls of a selector-less policy is not read (Istio)');
});

t.test('ties in a scope: the oldest wins, then namespace/name', async (t) => {
  const older = pa('shop', 'b-older', { mtls: { mode: 'DISABLE' } }, '2024-01-01T00:00:00Z');
  const newer = pa('shop', 'a-newer', { mtls: { mode: 'STRICT' } }, '2024-06-01T00:00:00Z');
  t.equal(resolve([newer, older], 'shop').mode, 'DISABLE', 'the older one, whatever the input order');
  const a = pa('shop', 'a', { mtls: { mode: 'STRICT' } }, '2024-01-01T00:00:00Z');
  const b = pa('shop', 'b', { mtls: { mode: 'DISABLE' } }, '2024-01-01T00:00:00Z');
  t.equal(resolve([b, a], 'shop').mode, 'STRICT', 'same time: by name');
  const w1 = pa('shop', 'w1', { selector: { matchLabels: { app: 'x' } }, mtls: { mode: 'STRICT' } }, '2024-02-01T00:00:00Z');
  const w2 = pa('shop', 'w2', { selector: { matchLabels: { tier: 'db' } }, mtls: { mode: 'DISABLE' } }, '2024-01-01T00:00:00Z');
  t.equal(resolve([w1, w2], 'shop', { app: 'x', tier: 'db' }).mode, 'DISABLE', 'two matching workload policies: the older');
});

t.test('a selector in the root namespace is ignored (Istio: workload policies live in the workload namespace)', async (t) => {
  const rootSelector = pa(ROOT, 'sel', { selector: { matchLabels: { app: 'a' } }, mtls: { mode: 'DISABLE' } });
  t.equal(resolve([rootSelector], 'shop', { app: 'a' }).mode, 'PERMISSIVE');
});

t.test('what a client infers for a destination namespace: mesh and namespace policies only', async (t) => {
  const idx = indexPeerAuthentications([pa(ROOT, 'default', { mtls: { mode: 'STRICT' } }), pa('legacy', 'default', { mtls: { mode: 'DISABLE' } }), pa('shop', 'w', { selector: { matchLabels: { app: 'a' } }, mtls: { mode: 'DISABLE' } })]);
  t.equal(namespaceMtls(idx, ROOT, 'legacy'), 'DISABLE');
  t.equal(namespaceMtls(idx, ROOT, 'shop'), 'STRICT', 'a workload policy is not consulted');
  t.equal(namespaceMtls(indexPeerAuthentications([]), ROOT, 'shop'), 'PERMISSIVE');
});
