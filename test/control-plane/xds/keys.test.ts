import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import t, { type Test } from 'tap';
import type { ConfigObject } from '../../../config/model.js';
import { meshOptions } from '../../../control-plane/model/options.js';
import type { IstioInputs } from '../../../control-plane/xds/cache/mesh-inputs.js';
import { silentLogger } from '../../../common/logger.js';
import { decodeToJson } from '../../../control-plane/proto/decode.js';
import type { Service } from '../../../control-plane/registry/types.js';
import { ResourceBuilder } from '../../../control-plane/xds/cache/generation.js';
import { declaredInputs, generatorsIn, inputKey, projectProxy, scopeKey } from '../../../control-plane/xds/cache/keys.js';
import type { ResourceMap } from '../../../control-plane/xds/cache/resource.js';
import { subscription } from '../../../control-plane/xds/cache/subscription.js';
import type { ProxyInfo } from '../../../control-plane/xds/proxy.js';
import { AdsContext } from '../../../control-plane/xds/server/context.js';
import { inboundClusters } from '../../../control-plane/xds/translate/clusters.js';
import { DEFAULT_TRANSLATE_OPTIONS as O, MESSAGE_TYPES, type XdsType } from '../../../control-plane/xds/translate/common.js';
import { PROXY_GENERATORS, PROXY_INPUTS, type GeneratorMode, type ProxyInput } from '../../../control-plane/xds/translate/generators.js';
import { inboundListener, outboundListener } from '../../../control-plane/xds/translate/listeners.js';
import { sidecarRouteConfigs } from '../../../control-plane/xds/translate/routes.js';

/**
 * Sharing keys are derived from what each generator declares it reads
 * (translate/generators.ts). These tests change each declared input and see the
 * shared part rebuilt, change each undeclared one and see it shared, and check
 * with random proxies that two proxies share a response exactly when every declared
 * input is equal — and that what a proxy is sent is its own fresh translation.
 */

function svc(name: string, namespace: string, port: number, protocol: 'HTTP' | 'GRPC' | 'TCP', ip: string): Service {
  return { name, namespace, addresses: [], ports: [{ name: protocol.toLowerCase(), port, protocol, endpoints: [{ address: ip, port, labels: {} }] }] };
}
const services = [svc('reviews', 'shop', 9080, 'HTTP', '10.0.0.1'), svc('ratings', 'shop', 7070, 'GRPC', '10.0.0.2'), svc('ui', 'data', 9080, 'HTTP', '10.0.1.1'), svc('pg', 'data', 5432, 'TCP', '10.0.1.5')];

function proxy(p: Partial<ProxyInfo> = {}): ProxyInfo {
  return { id: 'sidecar~10.0.0.5~app.shop~shop.svc.cluster.local', namespace: 'shop', labels: { app: 'a' }, ips: ['10.0.0.5'], appPorts: [8080], proxyless: false, userAgent: 'envoy', ...p };
}

/** For each proxy field, a different value that every generator reading it turns into different resources. */
const OTHER: Record<ProxyInput, Partial<ProxyInfo>> = {
  namespace: { namespace: 'data' },
  labels: { labels: { app: 'b' } },
  ips: { ips: ['10.0.0.6'] },
  appPorts: { appPorts: [9090] },
  proxyless: { proxyless: true },
};

/**
 * Istio config under which each input the Istio generators declare changes every type:
 * a Sidecar selecting `app: a` in shop imports only shop (so labels and namespace change the
 * scope), a DestinationRule adds subsets, a VirtualService splits.
 */
const ISTIO: IstioInputs = {
  options: meshOptions(),
  configs: [
    { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'only-shop', namespace: 'shop' }, spec: { workloadSelector: { labels: { app: 'a' } }, egress: [{ hosts: ['./*'] }] } },
    { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'ui', namespace: 'data' }, spec: { host: 'ui', subsets: [{ name: 'v1', labels: { version: 'v1' } }] } },
    { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'ui', namespace: 'data' }, spec: { hosts: ['ui'], http: [{ route: [{ destination: { host: 'ui', subset: 'v1' }, weight: 90 }, { destination: { host: 'ui' }, weight: 10 }] }] } },
  ] as unknown as ConfigObject[],
};

/**
 * Added to ISTIO for the declarations test, so that every input the inbound generator declares
 * changes it: shop is STRICT but `app: a` workloads DISABLE (namespace, labels), and a ServiceEntry
 * puts an HTTP endpoint at 10.0.0.5:8080 (ips: the port's protocol).
 */
const MTLS_CONFIGS = [
  { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'shop' }, spec: { mtls: { mode: 'STRICT' } } },
  { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'a', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'a' } }, mtls: { mode: 'DISABLE' } } },
  { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'app', namespace: 'shop' }, spec: { hosts: ['app.shop.svc.cluster.local'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 8080, name: 'http', protocol: 'HTTP' }], endpoints: [{ address: '10.0.0.5' }] } },
] as unknown as ConfigObject[];

t.test('every declared input, changed, rebuilds the shared part; every undeclared one leaves it shared', async (t) => {
  for (const mode of ['plain', 'istio'] as const) {
    await t.test(mode, async (t) => checkDeclarations(t, mode));
  }
});

async function checkDeclarations(t: Test, mode: GeneratorMode): Promise<void> {
  const gen = new ResourceBuilder(O).build({ services }, mode === 'istio' ? { ...ISTIO, configs: [...ISTIO.configs, ...MTLS_CONFIGS] } : undefined);
  t.equal(gen.mode, mode);
  const base = proxy();
  for (const g of generatorsIn(mode)) {
    const before = gen.part(g, base);
    t.ok(before.size > 0, `${g.name} makes resources`);
    const other: ProxyInfo = { ...base, id: 'another-proxy', userAgent: 'grpc' };
    t.equal(gen.part(g, other), before, `${g.name}: id and user agent are never read`);
    for (const f of PROXY_INPUTS) {
      const changed = proxy(OTHER[f]);
      const after = gen.part(g, changed);
      if (g.reads.includes(f)) {
        t.not(after, before, `${g.name} reads ${f}: rebuilt`);
        t.not(inputKey(g, projectProxy(changed, g.reads)), inputKey(g, projectProxy(base, g.reads)), `${g.name}: its key covers ${f}`);
        const bytes = (m: ResourceMap): string => [...m.values()].map((r) => Buffer.from(r.value).toString('base64')).join();
        t.not(bytes(after), bytes(before), `${g.name}: and ${f} makes a difference to what is sent`);
      } else {
        t.equal(after, before, `${g.name} does not read ${f}: shared`);
      }
    }
  }
}

t.test('the mesh snapshot is a declared input: a config or mesh-option change rebuilds the Istio parts, an unrelated kind does not', async (t) => {
  const b = new ResourceBuilder(O);
  const g1 = b.build({ services }, ISTIO);
  const routes = PROXY_GENERATORS.find((g) => g.name === 'istio-routes')!;
  const clusters = PROXY_GENERATORS.find((g) => g.name === 'istio-clusters')!;
  const listeners = PROXY_GENERATORS.find((g) => g.name === 'istio-listeners')!;
  const p = proxy({ namespace: 'data', labels: {} });
  const r1 = g1.part(routes, p);
  const c1 = g1.part(clusters, p);
  const l1 = g1.part(listeners, p);
  const gateway = { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'data' }, spec: { selector: { istio: 'ingressgateway' }, servers: [] } } as unknown as ConfigObject;
  const g2 = b.build({ services }, { ...ISTIO, configs: [...ISTIO.configs, gateway] });
  t.equal(g2.part(routes, p), r1, 'a Gateway is not read by the traffic translation: the parts stay');
  const vs = ISTIO.configs[2]!;
  const edited = { ...vs, spec: { hosts: ['ui'], http: [{ route: [{ destination: { host: 'ui', subset: 'v1' }, weight: 50 }, { destination: { host: 'ui' }, weight: 50 }] }] } } as ConfigObject;
  const g3 = b.build({ services }, { ...ISTIO, configs: [ISTIO.configs[0]!, ISTIO.configs[1]!, edited] });
  t.not(g3.part(routes, p), r1, 'a VirtualService edit rebuilds the routes');
  t.equal(g3.part(clusters, p), c1, 'and leaves the clusters (equal bytes keep their identity: nothing is re-sent)');
  t.equal(g3.part(listeners, p), l1, 'and the listeners');
  const drEdited = { ...ISTIO.configs[1]!, spec: { host: 'ui', subsets: [{ name: 'v1', labels: { version: 'v1' } }], trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } } } as ConfigObject;
  const g4 = b.build({ services }, { ...ISTIO, configs: [ISTIO.configs[0]!, drEdited, edited] });
  t.not(g4.part(clusters, p), g3.part(clusters, p), 'a DestinationRule edit rebuilds the clusters');
  t.equal(g4.part(listeners, p), l1, 'and leaves the listeners');
  const g5 = b.build({ services }, { ...ISTIO, configs: [ISTIO.configs[0]!, drEdited, edited], options: meshOptions({ outboundTrafficPolicy: 'REGISTRY_ONLY' }) });
  t.not(g5.part(listeners, p), l1, 'a mesh option (REGISTRY_ONLY) rebuilds the listeners');
  const g6 = b.build({ services }, { configs: [], options: meshOptions() });
  t.equal(g6.mode, 'plain', 'no traffic config and default options: back to the registry-only resources');
});

t.test('the projection handed to a generator holds exactly its declared fields', async (t) => {
  for (const g of PROXY_GENERATORS) t.same(Object.keys(projectProxy(proxy(), g.reads)).sort(), [...g.reads].sort(), g.name);
  t.same(declaredInputs('route'), ['namespace']);
  t.same(declaredInputs('cluster'), ['appPorts']);
  t.same(declaredInputs('listener'), ['appPorts']);
  t.same(declaredInputs('endpoint'), []);
  t.equal(scopeKey('route', proxy({ labels: { x: '1', y: '2' } })), scopeKey('route', proxy({ labels: { y: '2', x: '1' } })));
});

t.test('a generator with a registry view is rebuilt when its view changes, and only then', async (t) => {
  const b = new ResourceBuilder(O);
  const g1 = b.build({ services });
  const routes = PROXY_GENERATORS.find((g) => g.name === 'sidecar-routes')!;
  const outbound = PROXY_GENERATORS.find((g) => g.name === 'outbound-listener')!;
  const inbound = PROXY_GENERATORS.find((g) => g.name === 'inbound-listener')!;
  const p = proxy();
  const [r1, o1, i1] = [g1.part(routes, p), g1.part(outbound, p), g1.part(inbound, p)];
  // an HTTP endpoint moves: in no view
  const g2 = b.build({ services: [svc('reviews', 'shop', 9080, 'HTTP', '10.0.0.9'), ...services.slice(1)] });
  t.equal(g2.part(routes, p), r1, 'routes: HTTP endpoints are not in their view');
  t.equal(g2.part(outbound, p), o1, 'outbound listener: nor in its view');
  // a TCP endpoint moves: in the outbound listener's view only
  const g3 = b.build({ services: [...services.slice(0, 3), svc('pg', 'data', 5432, 'TCP', '10.0.1.6')] });
  t.equal(g3.part(routes, p), r1, 'routes do not read TCP ports');
  t.not(g3.part(outbound, p), o1, 'the outbound listener matches TCP endpoint addresses: rebuilt');
  // a new HTTP service: in both views
  const g4 = b.build({ services: [...services, svc('cart', 'shop', 9080, 'HTTP', '10.0.0.7')] });
  t.not(g4.part(routes, p), g3.part(routes, p), 'a new virtual host: routes rebuilt');
  t.equal(g4.part(inbound, p), i1, 'the inbound listener reads no registry: the same object through every generation');
});

/** Random proxies over small domains, so that equal and different inputs both occur often. */
const arbProxy: fc.Arbitrary<ProxyInfo> = fc.record({
  id: fc.string({ maxLength: 4 }),
  namespace: fc.constantFrom('shop', 'data', 'empty'),
  labels: fc.constantFrom<Record<string, string>>({}, { app: 'a' }, { app: 'b' }, { app: 'a', version: 'v1' }),
  ips: fc.constantFrom<string[]>([], ['10.0.0.5'], ['10.0.0.6']),
  appPorts: fc.constantFrom<number[]>([], [8080], [9090], [8080, 9090]),
  proxyless: fc.boolean(),
  userAgent: fc.constantFrom('envoy', 'grpc'),
});

/** proto3 JSON leaves out empty repeated fields: what a decoded resource looks like. */
function withoutEmptyLists(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutEmptyLists);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => !(Array.isArray(x) && x.length === 0)).map(([k, x]) => [k, withoutEmptyLists(x)]));
}

const TYPES: readonly XdsType[] = ['cluster', 'endpoint', 'listener', 'route'];

t.test('property: two proxies share a response exactly when every declared input is equal, and each is sent its own translation', async (t) => {
  const gen = new ResourceBuilder(O).build({ services });
  const ctx = new AdsContext(gen, silentLogger, undefined);
  const names: Record<XdsType, string[]> = {
    cluster: [],
    listener: [],
    endpoint: [...gen.global.endpoint.keys()],
    route: sidecarRouteConfigs(services, '', O).map((r) => String(r['name'])),
  };
  const subs = Object.fromEntries(TYPES.map((type) => [type, subscription(names[type].length === 0, names[type])])) as Record<XdsType, ReturnType<typeof subscription>>;
  const expected = (p: ProxyInfo, type: XdsType): unknown[] => {
    switch (type) {
      case 'cluster':
        return [...gen.global.cluster.values()].map((r) => decodeToJson(MESSAGE_TYPES.cluster, r.value)).concat(inboundClusters(p.appPorts));
      case 'listener':
        return [outboundListener(services, O), inboundListener(p.appPorts)];
      case 'route':
        return sidecarRouteConfigs(services, p.namespace, O);
      case 'endpoint':
        return [...gen.global.endpoint.values()].map((r) => decodeToJson(MESSAGE_TYPES.endpoint, r.value));
    }
  };
  let shared = 0;
  let distinct = 0;
  fc.assert(
    fc.property(arbProxy, arbProxy, (a, b) => {
      for (const type of TYPES) {
        const ra = ctx.response(gen, type, ctx.resolve(gen, a, type, subs[type]));
        const rb = ctx.response(gen, type, ctx.resolve(gen, b, type, subs[type]));
        const equalInputs = declaredInputs(type).every((f) => JSON.stringify(a[f]) === JSON.stringify(b[f]));
        if ((ra === rb) !== equalInputs) return false;
        if (ra === rb && type !== 'endpoint') shared++;
        if (ra !== rb) distinct++;
        for (const [p, r] of [[a, ra], [b, rb]] as const) {
          const sent = ((decodeToJson('envoy.service.discovery.v3.DiscoveryResponse', r.bytes) as { resources?: Array<Record<string, unknown>> }).resources ?? []).map(
            ({ '@type': _type, ...body }) => body,
          );
          if (!isDeepStrictEqual(sent, withoutEmptyLists(expected(p, type)))) return false;
        }
      }
      return true;
    }),
    { numRuns: 150 },
  );
  t.ok(shared > 0 && distinct > 0, `both cases were exercised (${shared} shared, ${distinct} distinct per-proxy responses)`);
});

t.test('property (istio mode): two proxies share a response exactly when every declared input is equal, and the response is its own translation', async (t) => {
  const gen = new ResourceBuilder(O).build({ services }, ISTIO);
  const ctx = new AdsContext(gen, silentLogger, undefined);
  const wildcard = subscription(true, []);
  let shared = 0;
  let distinct = 0;
  fc.assert(
    fc.property(arbProxy, arbProxy, (a, b) => {
      for (const type of TYPES) {
        const ra = ctx.response(gen, type, ctx.resolve(gen, a, type, wildcard));
        const rb = ctx.response(gen, type, ctx.resolve(gen, b, type, wildcard));
        const equalInputs = declaredInputs(type, 'istio').every((f) => JSON.stringify(a[f]) === JSON.stringify(b[f]));
        if ((ra === rb) !== equalInputs) return false;
        if (ra === rb) shared++;
        else distinct++;
        // what is sent is this proxy's own Istio translation (plus inbound resources, which read appPorts)
        for (const [p, r] of [[a, ra], [b, rb]] as const) {
          const own = gen.view(p)[type];
          const sentNames = ((decodeToJson('envoy.service.discovery.v3.DiscoveryResponse', r.bytes) as { resources?: Array<Record<string, unknown>> }).resources ?? []).map((x) => String(x['name'] ?? x['cluster_name']));
          if (![...own.keys()].every((n) => sentNames.includes(n))) return false;
        }
      }
      return true;
    }),
    { numRuns: 100 },
  );
  t.ok(shared > 0 && distinct > 0, `both cases were exercised (${shared} shared, ${distinct} distinct)`);
  t.same(declaredInputs('route', 'istio'), ['namespace', 'labels', 'proxyless']);
  t.same(declaredInputs('cluster', 'istio'), ['appPorts', 'namespace', 'labels', 'proxyless']);
});
