/** Targeted pushes: a changed object reaches exactly the proxies whose view it touches. */
import t from 'tap';
import { dependsOn } from '../../../control-plane/model/depends-on.js';
import { meshOptions } from '../../../control-plane/model/options.js';
import type { MeshProxy } from '../../../control-plane/model/proxy.js';
import { proxyView } from '../../../control-plane/model/proxy-view.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import { obj, svc } from './fixtures.js';

const registry = { services: [svc('reviews', 'shop'), svc('web', 'front'), svc('db', 'data')] };
const scoped = obj('Sidecar', 'front', 'default', { egress: [{ hosts: ['./*'] }] });
const snapshot = buildMeshSnapshot({ registry, options: meshOptions(), configs: [scoped] });

const shop: MeshProxy = { id: 'shop', namespace: 'shop', labels: { app: 'reviews' } };
const canary: MeshProxy = { id: 'canary', namespace: 'shop', labels: { app: 'canary' } };
const front: MeshProxy = { id: 'front', namespace: 'front', labels: {} };
const data: MeshProxy = { id: 'data', namespace: 'data', labels: {} };
const all = [shop, canary, front, data];
const ids = (ps: MeshProxy[]): string[] => ps.map((p) => p.id ?? '?');

t.test('a VirtualService reaches the proxies that import its host', async (t) => {
  const vs = obj('VirtualService', 'shop', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  t.same(ids(dependsOn(snapshot, { after: vs }, all)), ['shop', 'canary', 'data'], 'front imports only its own namespace');
  // cross-check against the views themselves: exactly the proxies importing the host
  const importing = all.filter((p) => proxyView(snapshot, p).services.some((s) => s.hostname === 'reviews.shop.svc.cluster.local'));
  t.same(ids(importing), ['shop', 'canary', 'data']);
});

t.test('a host moved out of a VirtualService still reaches the proxies that had it', async (t) => {
  const before = obj('VirtualService', 'front', 'x', { hosts: ['web'], http: [{ route: [{ destination: { host: 'web' } }] }] });
  const after = obj('VirtualService', 'front', 'x', { hosts: ['other.example.com'], exportTo: ['.'], http: [{ route: [{ destination: { host: 'web' } }] }] });
  t.same(ids(dependsOn(snapshot, { after }, all)), ['front']);
  t.same(ids(dependsOn(snapshot, { before, after }, all)), ['shop', 'canary', 'front', 'data']);
  t.same(ids(dependsOn(snapshot, { before: after }, all)), ['front'], 'a deletion counts its old version');
});

t.test('DestinationRules: importers of the host, only selected workloads with a selector, exportTo respected', async (t) => {
  const dr = obj('DestinationRule', 'front', 'web', { host: 'web' });
  t.same(ids(dependsOn(snapshot, { after: dr }, all)), ['shop', 'canary', 'front', 'data']);
  const selected = obj('DestinationRule', 'shop', 'canary', { host: 'db.data.svc.cluster.local', workloadSelector: { matchLabels: { app: 'canary' } } });
  t.same(ids(dependsOn(snapshot, { after: selected }, all)), ['canary']);
  const local = obj('DestinationRule', 'data', 'db', { host: 'db', exportTo: ['.'] });
  t.same(ids(dependsOn(snapshot, { after: local }, all)), ['data']);
  const nothing = obj('DestinationRule', 'data', 'none', { host: 'nowhere.example.com' });
  t.same(ids(dependsOn(snapshot, { after: nothing }, all)), [], 'no service, no view touched');
});

t.test('ServiceEntries by host and exportTo; Sidecars by namespace; security and telemetry kinds; Gateway touches no proxy', async (t) => {
  const se = obj('ServiceEntry', 'data', 'ext', { hosts: ['api.example.com'], exportTo: ['.', 'front'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }] });
  t.same(ids(dependsOn(snapshot, { after: se }, all)), ['data'], 'front is scoped to ./*');
  t.same(ids(dependsOn(snapshot, { after: obj('Sidecar', 'shop', 'x', {}) }, all)), ['shop', 'canary']);
  t.same(ids(dependsOn(snapshot, { after: obj('Sidecar', 'istio-system', 'default', {}) }, all)), ['shop', 'canary', 'front', 'data']);
  // a server's PeerAuthentication also decides what its clients send (auto mTLS): it reaches every proxy
    t.same(ids(dependsOn(snapshot, { after: obj('PeerAuthentication', 'shop', 'x', { mtls: { mode: 'STRICT' } }) }, all)), ['shop', 'canary', 'front', 'data']);
    // Telemetry and AuthorizationPolicy: the proxies of their namespace
    t.same(ids(dependsOn(snapshot, { after: obj('AuthorizationPolicy', 'shop', 'x', {}) }, all)), ['shop', 'canary']);
    t.same(ids(dependsOn(snapshot, { after: obj('Telemetry', 'front', 'x', {}) }, all)), ['front']);
    // Gateway: not translated for sidecars
    t.same(ids(dependsOn(snapshot, { after: obj('Gateway', 'istio-system', 'gw', { servers: [] }) }, all)), []);
});
