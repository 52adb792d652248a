import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import type { ConfigObject } from '../../../config/model.js';
import { ConfigSnapshot } from '../../../config/store/snapshot.js';
import type { ConfigChange } from '../../../config/store/types.js';
import { StaticRegistry, type Service } from '../../../control-plane/registry/types.js';
import { typeOfUrl } from '../../../control-plane/xds/cache/resource.js';
import { registerXds } from '../../../control-plane/xds/server/register.js';
import type { XdsType } from '../../../control-plane/xds/translate/common.js';
import { RawAds, URL as TYPE, type J } from '../ads-client.js';

/**
 * Which connected proxies a config edit reaches, over real ADS streams: a VirtualService edit is pushed
 * only to the proxies that import its host (a proxy whose Sidecar imports only its own namespace is sent
 * nothing, and its resources are not even re-translated), and a DestinationRule edit without a
 * consistent hash re-sends clusters and endpoints, never listeners or routes.
 */

function svc(name: string, namespace: string, port: number): Service {
  return {
    name,
    namespace,
    addresses: [],
    ports: [{ name: 'http', port, protocol: 'HTTP', endpoints: [{ address: `10.1.${port % 256}.1`, port, labels: { version: 'v1' } }, { address: `10.1.${port % 256}.2`, port, labels: { version: 'v2' } }] }],
  };
}

const meta = (name: string, namespace: string, n: number): ConfigObject['metadata'] => ({ name, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString() });
const sidecar: ConfigObject = { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: meta('default', 'front', 1), spec: { egress: [{ hosts: ['./*'] }] } };
const vs = (weight: number): ConfigObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: meta('reviews', 'shop', 2),
  spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight }, { destination: { host: 'reviews', subset: 'v2' }, weight: 100 - weight }] }] },
});
const dr = (trafficPolicy?: Record<string, unknown>): ConfigObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: meta('reviews', 'shop', 3),
  spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }], ...(trafficPolicy ? { trafficPolicy } : {}) },
});

/** The part of a config store the xDS server reads, over an in-memory snapshot (the stores' own snapshot type). */
class MemoryStore {
  private current = new ConfigSnapshot();
  private readonly listeners = new Set<(c: ConfigChange) => void>();
  readonly synced = Promise.resolve();
  snapshot(): ConfigSnapshot {
    return this.current;
  }
  onChange(l: (c: ConfigChange) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  upsert(...objs: ConfigObject[]): void {
    const { snapshot, kinds } = this.current.apply(objs, []);
    this.current = snapshot;
    for (const l of this.listeners) l({ snapshot, kinds });
  }
}

/** One sidecar-like client: wildcard subscriptions to all four types, every response ACKed. */
class Proxy {
  readonly ads: RawAds;
  constructor(port: number, readonly namespace: string) {
    this.ads = new RawAds(port);
    const node: J = { id: `sidecar~10.0.0.9~app-1.${namespace}~${namespace}.svc.cluster.local`, user_agent_name: 'envoy', metadata: { NAMESPACE: namespace, APP_PORTS: [8080], LABELS: { app: 'a' } } };
    this.ads.send({ node, type_url: TYPE.cluster, resource_names: [] });
    for (const type of ['endpoint', 'listener', 'route'] as const) this.ads.send({ type_url: TYPE[type], resource_names: [] });
  }
  /**
   * The types of every response until nothing arrives for `quietMs`, each ACKed; the first response
   * is waited for up to `firstMs` (a push follows the debounce and the translation).
   */
  async drain(firstMs = 5000, quietMs = 400): Promise<XdsType[]> {
    const got: XdsType[] = [];
    for (;;) {
      let r: J;
      try {
        r = await this.ads.next(got.length === 0 ? firstMs : quietMs);
      } catch {
        return got;
      }
      const type = typeOfUrl(String(r['type_url']));
      if (type) got.push(type);
      this.ads.send({ type_url: r['type_url'], version_info: r['version_info'], response_nonce: r['nonce'], resource_names: [] });
    }
  }
}

t.test('a VirtualService edit reaches only the importers of its host; a DestinationRule edit re-sends clusters and endpoints only', async (t) => {
  const store = new MemoryStore();
  store.upsert(sidecar, vs(100), dr());
  const server = new grpc.Server();
  const registry = new StaticRegistry({ services: [svc('reviews', 'shop', 9080), svc('web', 'front', 8080), svc('db', 'data', 7070)] });
  const xds = registerXds(server, { registry, config: store, debounce: { quietMs: 20, maxDelayMs: 200 }, checkConsistency: true });
  t.teardown(() => xds.close());
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  await xds.ready;

  const proxies = ['shop', 'front', 'data'].map((ns) => new Proxy(port, ns));
  t.teardown(() => proxies.forEach((p) => p.ads.close()));
  for (const p of proxies) t.same([...new Set(await p.drain())].sort(), ['cluster', 'endpoint', 'listener', 'route'], `${p.namespace}: the full configuration first`);

  const pushesBefore = xds.stats().pushes;
  store.upsert(vs(50));
  // a push goes to every stream it concerns at once: once shop and data have theirs, front's would be there too
  const afterVs = await Promise.all([proxies[0]!.drain(), proxies[2]!.drain()]).then(async ([shop, data]) => [shop, await proxies[1]!.drain(400), data]);
  t.same(afterVs[0], ['route'], 'shop imports reviews: its routes are re-sent, nothing else');
  t.same(afterVs[1], [], 'front imports only its own namespace: nothing is sent');
  t.same(afterVs[2], ['route'], 'data imports reviews: its routes are re-sent');
  t.equal(xds.stats().pushes - pushesBefore, 2, 'two responses in all');
  // five mesh parts per proxy: the four Istio parts and the inbound listener (translate/istio/inbound.ts)
  t.same(xds.stats().parts, { translated: 10, carried: 5 }, "front's five mesh parts carried over, not re-translated; shop's and data's five each re-translated");

  store.upsert(dr({ loadBalancer: { simple: 'LEAST_REQUEST' } }));
  const afterDr = await Promise.all([proxies[0]!.drain(), proxies[2]!.drain()]).then(async ([shop, data]) => [shop, await proxies[1]!.drain(400), data]);
  t.same(afterDr[0], ['cluster', 'endpoint'], 'shop: clusters, then their endpoints (a redefined cluster waits for them); no listener, no route');
  t.same(afterDr[1], [], 'front: nothing');
  t.same(afterDr[2], ['cluster', 'endpoint'], 'data: clusters and endpoints');
  // carried: 3 × (outbound and inbound listener, routes) + front's clusters and endpoints
  t.same(xds.stats().parts, { translated: 4, carried: 11 }, 'listeners and routes carried for all; front entirely; clusters and endpoints of shop and data re-translated');
});
