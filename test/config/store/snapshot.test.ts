import t from 'tap';
import type { ConfigObject } from '../../../config/model.js';
import { admitDocument, istioKind } from '../../../config/store/admit.js';
import { ConfigSnapshot } from '../../../config/store/snapshot.js';
import { testValidator } from './helpers.js';

const vs = (name: string, ns: string, hosts: string[]): ConfigObject => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts } });
const dr = (name: string, ns: string): ConfigObject => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: ns }, spec: { host: name } });

t.test('apply: changes name exactly the added, updated and deleted keys; unchanged kinds are shared', async (t) => {
  const s0 = new ConfigSnapshot();
  const a = s0.apply([vs('b', 'shop', ['b']), vs('a', 'shop', ['a']), dr('r', 'shop')], []);
  t.same(a.kinds, {
    VirtualService: { added: ['VirtualService/shop/a', 'VirtualService/shop/b'], updated: [], deleted: [] },
    DestinationRule: { added: ['DestinationRule/shop/r'], updated: [], deleted: [] },
  });
  const s1 = a.snapshot;
  t.equal(s1.revision, 1);
  t.same(s1.list('VirtualService').map((o) => o.metadata.name), ['a', 'b'], 'sorted by namespace then name');

  const b = s1.apply([vs('a', 'shop', ['a']), vs('a', 'web', ['x']), vs('b', 'shop', ['b2'])], ['VirtualService/shop/zzz']);
  t.same(b.kinds, { VirtualService: { added: ['VirtualService/web/a'], updated: ['VirtualService/shop/b'], deleted: [] } }, 'an equal upsert and an unknown delete are no change');
  t.equal(b.snapshot.byKey('DestinationRule'), s1.byKey('DestinationRule'), 'the untouched kind is the same map');
  t.equal(b.snapshot.get('VirtualService', 'shop', 'a'), s1.get('VirtualService', 'shop', 'a'), 'an unchanged object is shared');
  t.same(s1.get('VirtualService', 'shop', 'b')?.spec, { hosts: ['b'] }, 'the old snapshot still reads the old version');

  const c = b.snapshot.apply([], ['DestinationRule/shop/r']);
  t.same(c.kinds, { DestinationRule: { added: [], updated: [], deleted: ['DestinationRule/shop/r'] } });
  t.equal(c.snapshot.list('DestinationRule').length, 0);
  t.equal(c.snapshot.apply([], []).snapshot, c.snapshot, 'no change returns the same snapshot');
});

t.test('diffTo: the deletions and upserts toward a desired set', async (t) => {
  const s = new ConfigSnapshot().apply([vs('a', 'x', ['a']), dr('r', 'x')], []).snapshot;
  const d = s.diffTo(new Map([['VirtualService/x/a', vs('a', 'x', ['a2'])]]));
  t.same(d.deletes, ['DestinationRule/x/r']);
  t.equal(d.upserts.length, 1);
});

t.test('admitDocument: Istio kinds by group, namespace default, validation, frozen result', async (t) => {
  t.equal(istioKind({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway' }), undefined, "the Gateway API's Gateway is not Istio's");
  t.equal(istioKind({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway' }), 'Gateway');
  t.equal(istioKind({ apiVersion: 'v1', kind: 'Service' }), undefined);
  t.match(admitDocument({ apiVersion: 'apps/v1', kind: 'Deployment' }, testValidator), { outcome: 'ignored' });
  t.match(admitDocument('text', testValidator), { outcome: 'ignored' });

  const ok = admitDocument({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'a', uid: 'u1', labels: { x: 'y' } }, spec: { hosts: ['a'] }, status: { x: 1 } }, testValidator, 'default');
  if (ok.outcome !== 'accepted') throw new Error(`expected accepted, got ${ok.outcome}`);
  t.same(ok.object, { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'a', namespace: 'default', labels: { x: 'y' } }, spec: { hosts: ['a'] } }, 'uid and status dropped, namespace defaulted');
  t.ok(Object.isFrozen(ok.object) && Object.isFrozen(ok.object.spec) && Object.isFrozen((ok.object.spec as { hosts: string[] }).hosts), 'deeply frozen');

  t.same(admitDocument({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'a', namespace: 'n' }, spec: { hosts: [] } }, testValidator), {
    outcome: 'rejected', kind: 'VirtualService', key: 'VirtualService/n/a', problems: [{ path: 'spec.hosts', message: 'must be a non-empty list' }],
  });
  t.match(admitDocument({ apiVersion: 'networking.istio.io/v2', kind: 'VirtualService', metadata: { name: 'a', namespace: 'n' }, spec: { hosts: ['a'] } }, testValidator), {
    outcome: 'rejected', problems: [{ path: 'apiVersion' }],
  }, 'an unknown version is refused even by a lax validator');
  t.match(admitDocument({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: {}, spec: { hosts: ['a'] } }, testValidator), {
    outcome: 'rejected', key: undefined, problems: [{ path: 'metadata' }],
  });
  t.match(admitDocument({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 's', namespace: 'n' }, spec: {} }, () => {
    throw new Error('boom');
  }), { outcome: 'rejected', problems: [{ message: 'validator failed: boom' }] }, 'a throwing validator refuses the object only');
});
