import fc from 'fast-check';
import t from 'tap';
import type { PortProtocol, Service } from '../../../control-plane/registry/types.js';
import { edsNames, inconsistencies, proxyResources, rdsNames } from '../../../control-plane/xds/cache/consistency.js';
import { ResourceBuilder } from '../../../control-plane/xds/cache/generation.js';
import type { ProxyInfo } from '../../../control-plane/xds/proxy.js';
import { DEFAULT_TRANSLATE_OPTIONS as O } from '../../../control-plane/xds/translate/common.js';
import type { ConfigObject } from '../../../config/model.js';
import { meshOptions } from '../../../control-plane/model/options.js';

/**
 * go-control-plane's Snapshot.Consistent, for what each proxy can be sent: every
 * EDS name a cluster refers to and every RDS name a listener refers to exists.
 */

function proxy(namespace: string, appPorts: number[]): ProxyInfo {
  return { id: `sidecar~10.0.0.5~app.${namespace}~${namespace}.svc.cluster.local`, namespace, labels: {}, ips: [], appPorts, proxyless: false, userAgent: 'envoy' };
}
const PROXIES = [proxy('shop', []), proxy('shop', [8080, 9090]), proxy('data', [5432]), proxy('nowhere', [80])];

function svc(name: string, namespace: string, ports: Array<[number, PortProtocol]>, ips: string[], addresses: string[] = []): Service {
  return { name, namespace, addresses, ports: ports.map(([port, protocol]) => ({ name: `p-${port}`, port, protocol, endpoints: ips.map((address) => ({ address, port, labels: {} })) })) };
}

const REGISTRIES: Record<string, Service[]> = {
  empty: [],
  'HTTP, gRPC and TCP across namespaces': [
    svc('reviews', 'shop', [[9080, 'HTTP']], ['10.0.0.1', '10.0.0.2'], ['10.96.0.10']),
    svc('ratings', 'shop', [[7070, 'GRPC'], [9090, 'HTTP2']], ['10.0.0.3']),
    svc('db', 'data', [[5432, 'TCP']], ['10.0.1.5']),
  ],
  'TCP only, no endpoints': [svc('cache', 'data', [[6379, 'TCP']], [])],
  'same port, many services, shared VIP': [
    svc('a', 'x', [[80, 'HTTP']], ['10.0.2.1'], ['10.96.1.1']),
    svc('a', 'y', [[80, 'HTTP']], ['10.0.2.2'], ['10.96.1.1']),
    svc('b', 'x', [[80, 'TCP']], ['10.0.2.3']),
  ],
};

t.test('every proxy gets a consistent set from several registries', async (t) => {
  for (const [name, services] of Object.entries(REGISTRIES)) {
    const gen = new ResourceBuilder(O).build({ services });
    for (const p of PROXIES) {
      const sent = proxyResources(gen, p);
      t.same(inconsistencies(sent), [], `${name}: ${p.namespace} [${p.appPorts.join(',')}]`);
    }
  }
});

const arbServices = fc
  .uniqueArray(
    fc.record({
      name: fc.constantFrom('a', 'b', 'c', 'd'),
      namespace: fc.constantFrom('x', 'y'),
      ports: fc.uniqueArray(fc.tuple(fc.constantFrom(80, 443, 7070, 9080), fc.constantFrom<PortProtocol>('HTTP', 'HTTP2', 'GRPC', 'TCP')), { selector: ([p]) => p, minLength: 1, maxLength: 3 }),
      ips: fc.subarray(['10.0.0.1', '10.0.0.2', 'fd00::1']),
    }),
    { selector: (s) => `${s.namespace}/${s.name}`, maxLength: 6 },
  )
  .map((list) => list.map((s) => svc(s.name, s.namespace, s.ports, s.ips)));

t.test('property: consistent for random registries and proxies, through successive generations', async (t) => {
  const b = new ResourceBuilder(O);
  let checked = 0;
  fc.assert(
    fc.property(arbServices, fc.constantFrom(...PROXIES), (services, p) => {
      const gen = b.build({ services });
      checked++;
      return inconsistencies(proxyResources(gen, p)).length === 0;
    }),
    { numRuns: 100 },
  );
  t.equal(checked, 100);
});

t.test('the check finds what is missing', async (t) => {
  const gen = new ResourceBuilder(O).build({ services: REGISTRIES['HTTP, gRPC and TCP across namespaces']! });
  const sent = proxyResources(gen, proxy('shop', []));
  const endpoint = new Map(sent.endpoint);
  endpoint.delete('outbound|5432||db.data.svc.cluster.local');
  const route = new Map(sent.route);
  route.delete('9080');
  route.delete('ratings.shop.svc.cluster.local:7070');
  t.same(inconsistencies({ ...sent, endpoint, route }), [
    { type: 'cluster', resource: 'outbound|5432||db.data.svc.cluster.local', missing: 'endpoint', name: 'outbound|5432||db.data.svc.cluster.local' },
    { type: 'listener', resource: 'ratings.shop.svc.cluster.local:7070', missing: 'route', name: 'ratings.shop.svc.cluster.local:7070' },
    { type: 'listener', resource: 'virtualOutbound', missing: 'route', name: '9080' },
  ]);
  t.same(edsNames({ name: 'c', type: 'EDS' }), ['c'], 'an EDS cluster without service_name asks for its own name');
  t.same(edsNames({ name: 'c', type: 'STATIC' }), [], 'other clusters ask for none');
  t.same(rdsNames({ a: [{ rds: { route_config_name: 'r1' } }, { b: { rds: { route_config_name: 'r2' } } }] }), ['r1', 'r2']);
});

/** Istio config that adds subset clusters, splits, a ServiceEntry and a Sidecar scope: every proxy's set still holds together. */
const ISTIO_CONFIG = [
  { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'shop' }, spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } },
  { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'shop' }, spec: { hosts: ['reviews'], http: [{ match: [{ headers: { user: { exact: 'x' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] }, { route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 70 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 30 }] }] } },
  { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'ext', namespace: 'shop' }, spec: { hosts: ['api.example.com'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS' } },
  { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'scoped', namespace: 'data' }, spec: { egress: [{ hosts: ['./*'] }] } },
] as unknown as ConfigObject[];

t.test('Istio-config\'d proxies (sidecars and proxyless) get consistent sets too', async (t) => {
  for (const [name, services] of Object.entries(REGISTRIES)) {
    const gen = new ResourceBuilder(O).build({ services }, { configs: ISTIO_CONFIG, options: meshOptions() });
    t.equal(gen.mode, 'istio');
    for (const p of [...PROXIES, ...PROXIES.map((x) => ({ ...x, proxyless: true }))]) {
      const sent = proxyResources(gen, p);
      t.same(inconsistencies(sent), [], `${name}: ${p.namespace} [${p.appPorts.join(',')}]${p.proxyless ? ' proxyless' : ''}`);
    }
  }
});
