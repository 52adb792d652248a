import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { decodeDiscoveryRequest, decodeToJson, RAW_NAMES } from '../../../control-plane/proto/decode.js';
import { encodeProtoJson } from '../../../control-plane/proto/json.js';
import { StaticRegistry, type Service } from '../../../control-plane/registry/types.js';
import { startControlPlane, type ControlPlane } from '../../../control-plane/server.js';
import { ResourceBuilder } from '../../../control-plane/xds/cache/generation.js';
import { encodeRouteConfig, VirtualHostCache } from '../../../control-plane/xds/cache/vhosts.js';
import { DEFAULT_TRANSLATE_OPTIONS } from '../../../control-plane/xds/translate/common.js';
import { sidecarRouteConfigs } from '../../../control-plane/xds/translate/routes.js';
import { sidecarNode, URL, waitFor, type J } from '../ads-client.js';

/**
 * Responses are encoded once and shared by every stream sent the same set; these tests
 * read the raw bytes off the wire to check that sharing happens only where it may.
 */

const REQ = 'envoy.service.discovery.v3.DiscoveryRequest';
const RESP = 'envoy.service.discovery.v3.DiscoveryResponse';
const ROUTE = 'envoy.config.route.v3.RouteConfiguration';
const REVIEWS = 'outbound|9080||reviews.shop.svc.cluster.local';
const DETAILS = 'outbound|9080||details.shop.svc.cluster.local';

function http(name: string, ns: string, port: number, ips: string[]): Service {
  return { name, namespace: ns, addresses: [], ports: [{ name: 'http', port, protocol: 'HTTP', endpoints: ips.map((address) => ({ address, port, labels: {} })) }] };
}

/** A raw SotW stream that keeps each response's bytes next to its decoded form. */
class BytesAds {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<J, Buffer>;
  private readonly queue: Buffer[] = [];
  private waiters: Array<(b: Buffer) => void> = [];

  constructor(port: number) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    this.call = this.client.makeBidiStreamRequest(
      '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      (req: J) => Buffer.from(encodeProtoJson(REQ, req)),
      (b: Buffer) => b,
    );
    this.call.on('data', (b: Buffer) => {
      const w = this.waiters.shift();
      if (w) w(b);
      else this.queue.push(b);
    });
    this.call.on('error', () => {});
  }

  send(req: J): void {
    this.call.write(req);
  }

  async next(timeoutMs = 3000): Promise<{ bytes: Buffer; json: J }> {
    const bytes =
      this.queue.shift() ??
      (await new Promise<Buffer>((resolve, reject) => {
        const waiter = (b: Buffer): void => {
          clearTimeout(timer);
          resolve(b);
        };
        const timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`no response within ${timeoutMs} ms`));
        }, timeoutMs);
        this.waiters.push(waiter);
      }));
    return { bytes, json: decodeToJson(RESP, bytes) as J };
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

async function setup(t: Test, services: Service[]): Promise<{ cp: ControlPlane; registry: StaticRegistry }> {
  const registry = new StaticRegistry({ services });
  const cp = await startControlPlane({ host: '127.0.0.1', port: 0, registry, debounce: { quietMs: 20, maxDelayMs: 200 } });
  t.teardown(() => cp.close());
  return { cp, registry };
}

function open(t: Test, cp: ControlPlane): BytesAds {
  const ads = new BytesAds(cp.port);
  t.teardown(() => ads.close());
  return ads;
}

const resourceNames = (json: J): string[] => ((json['resources'] as J[] | undefined) ?? []).map((r) => String(r['name'] ?? r['cluster_name'])).sort();

t.test('two proxies with the same view and subscriptions receive byte-identical responses', async (t) => {
  const { cp, registry } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1']), http('details', 'shop', 9080, ['10.0.0.2'])]);
  const a = open(t, cp);
  const b = open(t, cp);
  const got: Record<string, Array<{ bytes: Buffer; json: J }>> = { a: [], b: [] };
  for (const [key, ads] of [['a', a], ['b', b]] as const) {
    ads.send({ node: { ...sidecarNode('shop'), id: `sidecar~10.0.0.${key === 'a' ? 5 : 6}~app-${key}.shop~shop.svc.cluster.local` }, type_url: URL.cluster });
    got[key]!.push(await ads.next());
    ads.send({ type_url: URL.endpoint, resource_names: [REVIEWS, DETAILS] });
    got[key]!.push(await ads.next());
    ads.send({ type_url: URL.route, resource_names: ['9080'] });
    got[key]!.push(await ads.next());
  }
  for (let i = 0; i < 3; i++) {
    t.ok(got['a']![i]!.bytes.equals(got['b']![i]!.bytes), `${got['a']![i]!.json['type_url']}: same bytes, nonce included`);
    t.ok(got['a']![i]!.json['resources'].length > 0, 'and not empty');
  }
  t.same(resourceNames(got['a']![1]!.json), [DETAILS, REVIEWS]);
  // ACK everything, then one endpoint change reaches both as the same small response.
  for (const [key, ads] of [['a', a], ['b', b]] as const) {
    for (const { json } of got[key]!) {
      const names = json['type_url'] === URL.endpoint ? [REVIEWS, DETAILS] : json['type_url'] === URL.route ? ['9080'] : [];
      ads.send({ type_url: json['type_url'], version_info: json['version_info'], response_nonce: json['nonce'], resource_names: names });
    }
  }
  t.ok(await waitFor(() => cp.proxies().every((p) => p.types.route?.acks === 1)), 'both ACKed');
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.9']), http('details', 'shop', 9080, ['10.0.0.2'])] });
  const [ea, eb] = await Promise.all([a.next(), b.next()]);
  t.equal(ea.json['type_url'], URL.endpoint);
  t.same(resourceNames(ea.json), [REVIEWS], 'only the changed endpoints');
  t.ok(ea.bytes.equals(eb.bytes), 'the change is the same bytes for both');
});

t.test('a proxy in another namespace does not get the bytes of the first one where its view differs', async (t) => {
  const { cp } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1']), http('db-ui', 'data', 9080, ['10.0.1.1'])]);
  const shop = open(t, cp);
  const data = open(t, cp);
  const routes: Record<string, { bytes: Buffer; json: J }> = {};
  const clusters: Record<string, { bytes: Buffer; json: J }> = {};
  for (const [ns, ads] of [['shop', shop], ['data', data]] as const) {
    ads.send({ node: sidecarNode(ns), type_url: URL.cluster });
    clusters[ns] = await ads.next();
    ads.send({ type_url: URL.route, resource_names: ['9080'] });
    routes[ns] = await ads.next();
  }
  t.ok(clusters['shop']!.bytes.equals(clusters['data']!.bytes), 'CDS does not depend on the namespace: shared');
  t.notOk(routes['shop']!.bytes.equals(routes['data']!.bytes), 'RDS does: not shared');
  const domains = (json: J, vhost: string): string[] => {
    const rc = (json['resources'] as J[])[0]!;
    return (rc['virtual_hosts'] as J[]).find((v) => v['name'] === vhost)!['domains'] as string[];
  };
  t.ok(domains(routes['shop']!.json, 'reviews.shop.svc.cluster.local:9080').includes('reviews'), 'the shop proxy may call reviews by its short name');
  t.notOk(domains(routes['data']!.json, 'reviews.shop.svc.cluster.local:9080').includes('reviews'), 'the data proxy may not');
  t.ok(domains(routes['data']!.json, 'db-ui.data.svc.cluster.local:9080').includes('db-ui'), 'but may call its own namespace by short name');
  t.notOk(domains(routes['shop']!.json, 'db-ui.data.svc.cluster.local:9080').includes('db-ui'));
});

t.test('a NACKing proxy keeps its last good configuration while its peer moves on', async (t) => {
  const { cp, registry } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1']), http('details', 'shop', 9080, ['10.0.0.2'])]);
  const good = open(t, cp);
  const bad = open(t, cp);
  const first: Record<string, J> = {};
  for (const [key, ads] of [['good', good], ['bad', bad]] as const) {
    ads.send({ node: { ...sidecarNode('shop'), id: `sidecar~10.0.0.7~${key}.shop~shop.svc.cluster.local` }, type_url: URL.endpoint, resource_names: [REVIEWS, DETAILS] });
    const r = (await ads.next()).json;
    first[key] = r;
    ads.send({ type_url: URL.endpoint, version_info: r['version_info'], response_nonce: r['nonce'], resource_names: [REVIEWS, DETAILS] });
  }
  t.ok(await waitFor(() => cp.proxies().every((p) => p.types.endpoint?.acks === 1)), 'both ACKed the first version');
  const v1 = first['good']!['version_info'];

  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.9']), http('details', 'shop', 9080, ['10.0.0.2'])] });
  const [g2, b2] = await Promise.all([good.next(), bad.next()]);
  t.ok(g2.bytes.equals(b2.bytes), 'the same update to both');
  good.send({ type_url: URL.endpoint, version_info: g2.json['version_info'], response_nonce: g2.json['nonce'], resource_names: [REVIEWS, DETAILS] });
  bad.send({ type_url: URL.endpoint, version_info: v1, response_nonce: b2.json['nonce'], resource_names: [REVIEWS, DETAILS], error_detail: { code: 3, message: 'rejected for the test' } });
  t.ok(
    await waitFor(() => {
      const byId = new Map(cp.proxies().map((p) => [p.id.split('~')[2], p.types.endpoint]));
      return byId.get('good.shop')?.acks === 2 && byId.get('bad.shop')?.nacks === 1;
    }),
    'one ACK, one NACK',
  );
  const bad2 = cp.proxies().find((p) => p.id.includes('~bad.shop~'))!.types.endpoint!;
  t.equal(bad2.ackedVersion, v1, 'the NACKing proxy is taken to run the first version');
  t.equal(bad2.lastError, 'rejected for the test');

  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.9']), http('details', 'shop', 9080, ['10.0.0.8'])] });
  const [g3, b3] = await Promise.all([good.next(), bad.next()]);
  t.same(resourceNames(g3.json), [DETAILS], 'the ACKing proxy gets only what changed since its ACK');
  t.same(resourceNames(b3.json), [DETAILS, REVIEWS], 'the NACKing proxy gets everything that differs from its last good config');
  t.notOk(g3.bytes.equals(b3.bytes), 'so they do not share bytes');
  const reviews = (b3.json['resources'] as J[]).find((r) => r['cluster_name'] === REVIEWS)!;
  t.equal(reviews['endpoints'][0]['lb_endpoints'][0]['endpoint']['address']['socket_address']['address'], '10.0.0.9');
});

t.test('ACKs repeating the subscription byte for byte cause no response; a changed one does', async (t) => {
  const { cp } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1']), http('details', 'shop', 9080, ['10.0.0.2'])]);
  const ads = open(t, cp);
  ads.send({ node: sidecarNode('shop'), type_url: URL.endpoint, resource_names: [REVIEWS] });
  const r1 = (await ads.next()).json;
  ads.send({ type_url: URL.endpoint, version_info: r1['version_info'], response_nonce: r1['nonce'], resource_names: [REVIEWS] });
  ads.send({ type_url: URL.endpoint, version_info: r1['version_info'], response_nonce: r1['nonce'], resource_names: [REVIEWS] });
  await t.rejects(ads.next(150), /no response/, 'repeated ACKs are quiet');
  // same count, different name: must be noticed
  ads.send({ type_url: URL.endpoint, version_info: r1['version_info'], response_nonce: r1['nonce'], resource_names: [DETAILS] });
  const r2 = (await ads.next()).json;
  t.same(resourceNames(r2), [DETAILS]);
  t.equal(cp.proxies()[0]!.types.endpoint!.names.join(), DETAILS);
});

t.test('decodeDiscoveryRequest reads what decodeToJson reads, names lazily', async (t) => {
  const full = {
    version_info: '3',
    node: { id: 'sidecar~10.0.0.5~app.shop~shop.svc.cluster.local', cluster: 'app.shop', metadata: { NAMESPACE: 'shop', APP_PORTS: [8080] }, user_agent_name: 'envoy' },
    resource_names: ['a', 'b', 'c'],
    type_url: URL.endpoint,
    response_nonce: '7',
    error_detail: { code: 3, message: 'bad' },
  };
  for (const req of [full, { type_url: URL.cluster }, { type_url: URL.cluster, resource_names: ['x'], response_nonce: '1' }]) {
    const bytes = encodeProtoJson(REQ, req);
    const fast = decodeDiscoveryRequest(bytes);
    const plain = Object.fromEntries(Object.keys(fast).map((k) => [k, fast[k]]));
    t.same(plain, decodeToJson(REQ, bytes), JSON.stringify(req));
    t.same(plain, req, 'and that is what was sent');
    const raw = fast[RAW_NAMES];
    if ('resource_names' in req) t.ok(raw && Buffer.from(raw).equals(Buffer.from(encodeProtoJson(REQ, { resource_names: req.resource_names }))), 'raw names are the names fields');
    else t.equal(raw, undefined);
  }
  // names split around another field still decode (through the generic path)
  const split = Buffer.concat([encodeProtoJson(REQ, { resource_names: ['a'] }), encodeProtoJson(REQ, { type_url: 't' }), encodeProtoJson(REQ, { resource_names: ['b'] })]);
  const d = decodeDiscoveryRequest(split);
  t.same(Object.fromEntries(Object.keys(d).map((k) => [k, d[k]])), { resource_names: ['a', 'b'], type_url: 't' });
  t.equal(d[RAW_NAMES], undefined, 'no raw bytes when the names are not contiguous');
});

t.test('route configurations assembled from cached virtual hosts equal the strict encoding of their JSON', async (t) => {
  const services = [http('reviews', 'shop', 9080, ['10.0.0.1']), http('details', 'shop', 9080, ['10.0.0.2']), http('db-ui', 'data', 9080, ['10.0.1.1'])];
  const cache = new VirtualHostCache();
  for (const ns of ['shop', 'data', 'other']) {
    for (const json of sidecarRouteConfigs(services, ns, DEFAULT_TRANSLATE_OPTIONS)) {
      const assembled = decodeToJson(ROUTE, encodeRouteConfig(json, cache));
      t.same(assembled, decodeToJson(ROUTE, encodeProtoJson(ROUTE, json)), `${ns} ${String(json['name'])}`);
      t.same(assembled, json, 'and the JSON itself');
    }
  }
  const vh = (sidecarRouteConfigs(services, 'shop', DEFAULT_TRANSLATE_OPTIONS)[0]!['virtual_hosts'] as J[])[0]!;
  t.equal(cache.encode(vh), cache.encode(JSON.parse(JSON.stringify(vh)) as J), 'equal virtual hosts share their bytes');
  t.throws(() => encodeRouteConfig({ name: 'x', virtual_hosts: [{ name: 'v', domains: ['*'], bogus: 1 }] }, cache), /unknown field/, 'each part is still encoded strictly');

  // proxies of one namespace with different app ports share the route configurations and the outbound listener
  const gen = new ResourceBuilder(DEFAULT_TRANSLATE_OPTIONS).build({ services });
  const v1 = gen.view({ namespace: 'shop', appPorts: [8080], labels: {}, ips: [], proxyless: false });
  const v2 = gen.view({ namespace: 'shop', appPorts: [9090], labels: {}, ips: [], proxyless: false });
  const v3 = gen.view({ namespace: 'data', appPorts: [8080], labels: {}, ips: [], proxyless: false });
  t.equal(v1.route.get('9080'), v2.route.get('9080'));
  t.not(v1.route.get('9080'), v3.route.get('9080'));
  t.equal(v1.listener.get('virtualOutbound'), v3.listener.get('virtualOutbound'));
  t.not(v1.listener.get('virtualInbound'), v2.listener.get('virtualInbound'));
  t.equal(v1.cluster.get('inbound|8080||'), v3.cluster.get('inbound|8080||'));
});
