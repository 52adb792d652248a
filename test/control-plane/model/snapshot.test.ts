/** The mesh snapshot and per-proxy views: visibility, VirtualService conflicts, DestinationRule precedence, Sidecar scoping. */
import t from 'tap';
import { meshOptions } from '../../../control-plane/model/options.js';
import { proxyView, virtualServiceFor } from '../../../control-plane/model/proxy-view.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import { obj, svc } from './fixtures.js';

const registry = {
  services: [svc('reviews', 'shop'), svc('ratings', 'shop'), svc('db', 'data'), svc('hidden', 'data'), svc('web', 'front')],
};

t.test('services come from the registry and from ServiceEntries; exportTo hides them', async (t) => {
  const snap = buildMeshSnapshot({
    registry,
    options: meshOptions(),
    configs: [
      obj('ServiceEntry', 'shop', 'ext', { hosts: ['api.example.com', '*.wild.example.com'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS' }),
      obj('ServiceEntry', 'data', 'private', { hosts: ['private.internal'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], exportTo: ['.'], resolution: 'STATIC', endpoints: [{ address: '10.9.9.9' }] }),
    ],
  });
  t.same(snap.servicesByHost.get('api.example.com')?.map((s) => s.origin), ['ServiceEntry/shop/ext']);
  t.same(snap.wildcardServices.map((s) => s.hostname), ['*.wild.example.com']);
  t.same(snap.servicesByNamespace.get('data')?.map((s) => s.hostname).sort(), ['db.data.svc.cluster.local', 'hidden.data.svc.cluster.local', 'private.internal']);
  const fromShop = proxyView(snap, { namespace: 'shop', labels: {} }).services.map((s) => s.hostname);
  t.notOk(fromShop.includes('private.internal'), 'exportTo: . hides it from other namespaces');
  t.ok(proxyView(snap, { namespace: 'data', labels: {} }).services.some((s) => s.hostname === 'private.internal'), 'visible in its own');
  t.ok(Object.isFrozen(snap) && Object.isFrozen(snap.services), 'the snapshot is immutable');
});

t.test('mesh default exportTo applies to objects without their own', async (t) => {
  const snap = buildMeshSnapshot({
    registry,
    options: meshOptions({ defaultServiceExportTo: ['.'], defaultVirtualServiceExportTo: ['.'] }),
    configs: [obj('VirtualService', 'data', 'db', { hosts: ['db'], http: [{ route: [{ destination: { host: 'db' } }] }] })],
  });
  const shop = proxyView(snap, { namespace: 'shop', labels: {} });
  t.same(shop.services.map((s) => s.namespace).sort(), ['shop', 'shop']);
  t.equal(shop.virtualServiceByHost.size, 0);
  t.equal(proxyView(snap, { namespace: 'data', labels: {} }).virtualServiceByHost.size, 1);
});

t.test('VirtualServices: short hosts resolved in their namespace; the proxy namespace first, then the oldest wins a host', async (t) => {
  const older = obj('VirtualService', 'data', 'older', { hosts: ['reviews.shop.svc.cluster.local'], http: [{ route: [{ destination: { host: 'db' } }] }] });
  const own = obj('VirtualService', 'shop', 'own', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const younger = obj('VirtualService', 'front', 'younger', { hosts: ['reviews.shop.svc.cluster.local', 'web'], http: [{ route: [{ destination: { host: 'web' } }] }] });
  const gatewayOnly = obj('VirtualService', 'shop', 'gw', { hosts: ['ratings'], gateways: ['my-gateway'], http: [{ route: [{ destination: { host: 'ratings' } }] }] });
  const snap = buildMeshSnapshot({ registry, options: meshOptions(), configs: [younger, own, older, gatewayOnly] });
  t.same(snap.virtualServices.map((v) => v.key), ['VirtualService/data/older', 'VirtualService/shop/own', 'VirtualService/front/younger'], 'creation order; gateway-only left out');
  const shop = proxyView(snap, { namespace: 'shop', labels: {} });
  t.equal(shop.virtualServiceByHost.get('reviews.shop.svc.cluster.local')?.key, 'VirtualService/shop/own', 'the proxy namespace wins');
  t.same(shop.conflicts.map((c) => c.loser), ['VirtualService/data/older', 'VirtualService/front/younger']);
  const front = proxyView(snap, { namespace: 'front', labels: {} });
  t.equal(front.virtualServiceByHost.get('reviews.shop.svc.cluster.local')?.key, 'VirtualService/front/younger', 'own namespace first, even if younger');
  const other = proxyView(snap, { namespace: 'elsewhere', labels: {} });
  t.equal(other.virtualServiceByHost.get('reviews.shop.svc.cluster.local')?.key, 'VirtualService/data/older', 'elsewhere: the oldest');
  t.equal(other.virtualServiceByHost.get('web.front.svc.cluster.local')?.key, 'VirtualService/front/younger', 'a host lost elsewhere is kept where unclaimed');
});

t.test('a wildcard VirtualService governs the services under it; an exact one wins over it', async (t) => {
  const snap = buildMeshSnapshot({
    registry,
    options: meshOptions(),
    configs: [
      obj('VirtualService', 'shop', 'all', { hosts: ['*.shop.svc.cluster.local'], http: [{ route: [{ destination: { host: 'reviews' } }] }] }),
      obj('VirtualService', 'shop', 'ratings', { hosts: ['ratings'], http: [{ route: [{ destination: { host: 'ratings' } }] }] }),
    ],
  });
  const v = proxyView(snap, { namespace: 'shop', labels: {} });
  t.equal(virtualServiceFor(v, 'reviews.shop.svc.cluster.local')?.key, 'VirtualService/shop/all');
  t.equal(virtualServiceFor(v, 'ratings.shop.svc.cluster.local')?.key, 'VirtualService/shop/ratings');
  t.equal(virtualServiceFor(v, 'db.data.svc.cluster.local'), undefined);
});

t.test('DestinationRule precedence: selector in proxy ns, proxy ns, service ns, root ns; exportTo respected; same-level rules merged', async (t) => {
  const root = obj('DestinationRule', 'istio-system', 'root', { host: '*.svc.cluster.local', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } });
  const inService = obj('DestinationRule', 'data', 'svc-ns', { host: 'db', subsets: [{ name: 'a', labels: { v: 'a' } }] });
  const inServiceMore = obj('DestinationRule', 'data', 'svc-ns-2', { host: 'db', trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } }, subsets: [{ name: 'a', labels: { v: 'x' } }, { name: 'b', labels: { v: 'b' } }] });
  const inProxy = obj('DestinationRule', 'shop', 'proxy-ns', { host: 'db.data.svc.cluster.local', exportTo: ['.'], subsets: [{ name: 'p', labels: {} }] });
  const selected = obj('DestinationRule', 'shop', 'selected', { host: 'db.data.svc.cluster.local', workloadSelector: { matchLabels: { app: 'canary' } }, subsets: [{ name: 's', labels: {} }] });
  const snap = buildMeshSnapshot({ registry, options: meshOptions(), configs: [root, inService, inServiceMore, inProxy, selected] });
  const db = 'db.data.svc.cluster.local';
  t.same(proxyView(snap, { namespace: 'shop', labels: { app: 'canary' } }).destinationRules.get(db)?.from, ['DestinationRule/shop/selected']);
  t.same(proxyView(snap, { namespace: 'shop', labels: { app: 'web' } }).destinationRules.get(db)?.from, ['DestinationRule/shop/proxy-ns']);
  const front = proxyView(snap, { namespace: 'front', labels: { app: 'canary' } }).destinationRules.get(db);
  t.same(front?.from, ['DestinationRule/data/svc-ns', 'DestinationRule/data/svc-ns-2'], 'shop rules are not exported to front; the service namespace merges two');
  t.same(front?.subsets.map((s) => `${s.name}=${s.labels?.['v']}`), ['a=a', 'b=b'], 'merged subsets, the first name kept');
  t.same(front?.trafficPolicy, { loadBalancer: { simple: 'LEAST_REQUEST' } }, 'the first trafficPolicy set');
  t.same(proxyView(snap, { namespace: 'front', labels: {} }).destinationRules.get('web.front.svc.cluster.local')?.from, ['DestinationRule/istio-system/root'], 'root namespace last, wildcard host');
});

t.test('Sidecar: selector beats namespace default beats root default; egress imports ns/host, ./*, */host, ~/*', async (t) => {
  const configs = [
    obj('Sidecar', 'istio-system', 'default', { egress: [{ hosts: ['./*'] }] }),
    obj('Sidecar', 'shop', 'default', { egress: [{ hosts: ['./*', 'data/db.data.svc.cluster.local'] }], outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } }),
    obj('Sidecar', 'shop', 'isolated', { workloadSelector: { matchLabels: { app: 'isolated' } }, egress: [{ hosts: ['~/*'] }] }),
    obj('Sidecar', 'front', 'any', { egress: [{ hosts: ['*/reviews.shop.svc.cluster.local', 'front/*'] }] }),
    obj('VirtualService', 'shop', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'hidden.data.svc.cluster.local' } }] }] }),
  ];
  const snap = buildMeshSnapshot({ registry, options: meshOptions(), configs });
  const hosts = (ns: string, labels: Record<string, string> = {}): string[] => proxyView(snap, { namespace: ns, labels }).services.map((s) => s.hostname);
  t.same(hosts('shop'), ['db.data.svc.cluster.local', 'hidden.data.svc.cluster.local', 'ratings.shop.svc.cluster.local', 'reviews.shop.svc.cluster.local'], 'namespace default, plus the destination of an imported VirtualService');
  t.equal(proxyView(snap, { namespace: 'shop', labels: {} }).outboundTrafficPolicy, 'REGISTRY_ONLY');
  t.same(hosts('shop', { app: 'isolated' }), [], '~/* imports nothing');
  t.equal(proxyView(snap, { namespace: 'shop', labels: { app: 'isolated' } }).outboundTrafficPolicy, 'ALLOW_ANY', 'the mesh default when the Sidecar says nothing');
  t.same(hosts('front'), ['hidden.data.svc.cluster.local', 'reviews.shop.svc.cluster.local', 'web.front.svc.cluster.local']);
  t.same(hosts('data'), ['db.data.svc.cluster.local', 'hidden.data.svc.cluster.local'], 'root default: own namespace only');
});
