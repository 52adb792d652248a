import t, { type Test } from 'tap';
import { checkProtoJson } from '../../../control-plane/proto/json.js';
import type { Logger } from '../../../common/logger.js';
import { StaticRegistry, type Service } from '../../../control-plane/registry/types.js';
import { startControlPlane, type ControlPlane } from '../../../control-plane/server.js';
import { typeOfUrl } from '../../../control-plane/xds/cache/resource.js';
import { MESSAGE_TYPES } from '../../../control-plane/xds/translate/common.js';
import { names, RawAds, sidecarNode, URL, waitFor, type J } from '../ads-client.js';

function http(name: string, ns: string, port: number, ips: string[], addresses: string[] = []): Service {
  return { name, namespace: ns, addresses, ports: [{ name: 'http', port, protocol: 'HTTP', endpoints: ips.map((address) => ({ address, port, labels: {} })) }] };
}
function tcp(name: string, ns: string, port: number, ips: string[]): Service {
  return { name, namespace: ns, addresses: [], ports: [{ name: 'tcp', port, protocol: 'TCP', endpoints: ips.map((address) => ({ address, port, labels: {} })) }] };
}

const REVIEWS = 'outbound|9080||reviews.shop.svc.cluster.local';

function capture(): Logger & { lines: Array<{ level: string; msg: string; obj: J }> } {
  const lines: Array<{ level: string; msg: string; obj: J }> = [];
  const rec = (level: string) => (obj: object, msg?: string) => lines.push({ level, msg: msg ?? '', obj: obj as J });
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

/** Each resource off the wire, decoded from its Any, passes the strict Envoy check. */
function strict(t: Test, resp: J): void {
  for (const r of resp['resources'] as J[]) {
    const { '@type': type, ...body } = r;
    t.equal(type, resp['type_url'], 'resource type matches the response');
    t.same(checkProtoJson(MESSAGE_TYPES[typeOfUrl(type as string)!], body), [], `strict ${type} ${body['name'] ?? body['cluster_name']}`);
  }
}

async function setup(t: Test, services: Service[]): Promise<{ cp: ControlPlane; registry: StaticRegistry; log: ReturnType<typeof capture> }> {
  const registry = new StaticRegistry({ services });
  const log = capture();
  const cp = await startControlPlane({ host: '127.0.0.1', port: 0, registry, log, debounce: { quietMs: 30, maxDelayMs: 300 } });
  t.teardown(() => cp.close());
  return { cp, registry, log };
}

function ack(ads: RawAds, resp: J, node?: J, resource_names: string[] = []): void {
  ads.send({ ...(node ? { node } : {}), type_url: resp['type_url'], version_info: resp['version_info'], response_nonce: resp['nonce'], resource_names });
}

t.test('sidecar: wildcard CDS/LDS, named EDS/RDS, ACKs, strict resources, scoped pushes in CDS-EDS-LDS-RDS order', async (t) => {
  const { cp, registry } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1'])]);
  const ads = new RawAds(cp.port);
  t.teardown(() => ads.close());

  ads.send({ node: sidecarNode(), type_url: URL.cluster, resource_names: [] });
  const cds = await ads.next();
  t.equal(cds['type_url'], URL.cluster);
  t.equal(cds['version_info'], '1');
  t.same(names(cds), ['InboundPassthroughCluster', 'PassthroughCluster', 'inbound|8080||', REVIEWS].sort());
  strict(t, cds);
  ack(ads, cds);

  ads.send({ type_url: URL.endpoint, resource_names: [REVIEWS] });
  const eds = await ads.next();
  t.same(names(eds), [REVIEWS]);
  t.same(eds['resources'][0].endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '10.0.0.1', port_value: 9080 });
  strict(t, eds);
  ack(ads, eds, undefined, [REVIEWS]);

  ads.send({ type_url: URL.listener, resource_names: [] });
  const lds = await ads.next();
  t.same(names(lds), ['virtualInbound', 'virtualOutbound'], 'a wildcard gets the capture listeners, not the gRPC API listeners');
  strict(t, lds);
  ack(ads, lds);

  ads.send({ type_url: URL.route, resource_names: ['9080'] });
  const rds = await ads.next();
  t.same(names(rds), ['9080']);
  strict(t, rds);
  ack(ads, rds, undefined, ['9080']);

  t.ok(await ads.quiet(150), 'ACKs get no response');
  await waitFor(() => cp.proxies()[0]?.types.route?.acks === 1);
  const st = cp.proxies()[0]!;
  t.equal(st.id, 'sidecar~10.0.0.5~app-1.shop~shop.svc.cluster.local');
  t.same(
    Object.fromEntries(Object.entries(st.types).map(([k, v]) => [k, [v!.wildcard, v!.ackedVersion, v!.acks, v!.nacks]])),
    { cluster: [true, '1', 1, 0], endpoint: [false, '1', 1, 0], listener: [true, '1', 1, 0], route: [false, '1', 1, 0] },
  );

  // One change touching every type: a new cluster, reviews' endpoints, a TCP chain on the listener, a new virtual host on 9080.
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.1', '10.0.0.2']), http('details', 'shop', 9080, ['10.0.0.3']), tcp('db', 'data', 5432, ['10.0.1.5'])] });
  const order: string[] = [];
  const pushed: J[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await ads.next();
    order.push(r['type_url']);
    pushed.push(r);
    strict(t, r);
  }
  t.same(order, [URL.cluster, URL.endpoint, URL.listener, URL.route], 'make-before-break order');
  t.ok(pushed.every((r) => r['version_info'] === '2'), 'all at the new version');
  t.same(names(pushed[0]!), ['InboundPassthroughCluster', 'PassthroughCluster', 'inbound|8080||', REVIEWS, 'outbound|9080||details.shop.svc.cluster.local', 'outbound|5432||db.data.svc.cluster.local'].sort());
  t.same(names(pushed[1]!), [REVIEWS], 'EDS: only the subscribed name');
  for (const r of pushed) ack(ads, r, undefined, r['type_url'] === URL.endpoint ? [REVIEWS] : r['type_url'] === URL.route ? ['9080'] : []);
  t.ok(await ads.quiet(150));

  // An endpoint-only change: only EDS is pushed.
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.2']), http('details', 'shop', 9080, ['10.0.0.3']), tcp('db', 'data', 5432, ['10.0.1.5'])] });
  const only = await ads.next();
  t.equal(only['type_url'], URL.endpoint);
  t.same(only['resources'][0].endpoints[0].lb_endpoints.map((e: J) => e.endpoint.address.socket_address.address), ['10.0.0.2']);
  ack(ads, only, undefined, [REVIEWS]);
  t.ok(await ads.quiet(200), 'nothing else was pushed');

  // A change to a service this proxy does not watch the endpoints of: CDS/LDS/RDS unchanged, EDS not subscribed.
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.2']), http('details', 'shop', 9080, ['10.0.0.4']), tcp('db', 'data', 5432, ['10.0.1.5'])] });
  const deadline = Date.now() + 5000;
  while (cp.stats().version !== '4' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(cp.stats().version, '4', 'the generation moved on');
  t.ok(await ads.quiet(150), 'but a change the proxy does not see is not pushed to it');
});

t.test('NACK: counted, logged with error_detail, last good config kept, not re-pushed until the next change', async (t) => {
  const { cp, registry, log } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1'])]);
  const ads = new RawAds(cp.port);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode(), type_url: URL.listener, resource_names: [] });
  const v1 = await ads.next();
  ack(ads, v1);
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.1']), tcp('db', 'data', 5432, ['10.0.1.5'])] });
  const v2 = await ads.next();
  t.equal(v2['version_info'], '2');
  ads.send({ type_url: URL.listener, version_info: '1', response_nonce: v2['nonce'], resource_names: [], error_detail: { code: 3, message: 'Error adding/updating listener(s) virtualOutbound: bad filter chain' } });
  t.ok(await ads.quiet(200), 'no re-push of the rejected config');
  await waitFor(() => cp.proxies()[0]?.types.listener?.nacks === 1);
  const lds = cp.proxies()[0]!.types.listener!;
  t.equal(lds.nacks, 1);
  t.equal(lds.ackedVersion, '1', 'the last good version is kept for this proxy');
  t.equal(lds.lastError, 'Error adding/updating listener(s) virtualOutbound: bad filter chain');
  t.equal(cp.stats().nacks, 1);
  const line = log.lines.find((l) => l.level === 'warn' && /NACK/.test(l.msg));
  t.ok(line, 'logged');
  t.match(line?.obj, { proxy: 'sidecar~10.0.0.5~app-1.shop~shop.svc.cluster.local', type: URL.listener, rejectedVersion: '2', keptVersion: '1', error_detail: /bad filter chain/ });

  // An endpoint-only change leaves the listeners as they were in v2; they differ from
  // what the proxy really runs (v1), so LDS is pushed again with this generation.
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.2']), tcp('db', 'data', 5432, ['10.0.1.5'])] });
  const v3 = await ads.next();
  t.equal(v3['type_url'], URL.listener);
  t.equal(v3['version_info'], '3', 'LDS re-pushed after an endpoint-only change');
  t.same(names(v3), ['virtualInbound', 'virtualOutbound']);
  ack(ads, v3);
  t.ok(await ads.quiet(100));
  t.ok(await waitFor(() => cp.proxies()[0]?.types.listener?.ackedVersion === '3'), 'the new version is ACKed');
});

t.test('reconnect with the previous version: the same config again, at the same version', async (t) => {
  const { cp } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1'])]);
  const first = new RawAds(cp.port);
  first.send({ node: sidecarNode(), type_url: URL.cluster, resource_names: [] });
  const cds = await first.next();
  ack(first, cds);
  await first.quiet(50);
  first.close();
  const again = new RawAds(cp.port);
  t.teardown(() => again.close());
  again.send({ node: sidecarNode(), type_url: URL.cluster, version_info: cds['version_info'], resource_names: [] });
  const cds2 = await again.next();
  t.equal(cds2['version_info'], cds['version_info']);
  t.same(cds2['resources'], cds['resources']);
  t.not(cds2['nonce'], '', 'a fresh nonce');
  ack(again, cds2);
  t.ok(await again.quiet(100));
  const deadline = Date.now() + 3000;
  while (cp.stats().streams !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(cp.stats().streams, 1, 'the old stream is gone');
});

t.test('named subscriptions: missing names answered empty, subscription changes answered, stale nonces ignored, removal', async (t) => {
  const { cp, registry } = await setup(t, [http('ratings', 'shop', 7070, ['10.0.0.3'])]);
  const ads = new RawAds(cp.port);
  t.teardown(() => ads.close());
  const node = { id: 'grpc-client-1', locality: {}, metadata: { NAMESPACE: 'shop' } };
  ads.send({ node, type_url: URL.listener, resource_names: ['nope.shop.svc.cluster.local:1'] });
  const empty = await ads.next();
  t.same(names(empty), [], 'a missing listener: an empty state of the world, so the client knows');
  ack(ads, empty, undefined, ['nope.shop.svc.cluster.local:1']);
  ads.send({ type_url: URL.listener, version_info: empty['version_info'], response_nonce: empty['nonce'], resource_names: ['ratings.shop.svc.cluster.local:7070'] });
  const one = await ads.next();
  t.same(names(one), ['ratings.shop.svc.cluster.local:7070']);
  strict(t, one);
  ads.send({ type_url: URL.listener, response_nonce: empty['nonce'], resource_names: ['virtualOutbound'] });
  t.ok(await ads.quiet(150), 'a request with a stale nonce is ignored');
  ack(ads, one, undefined, ['ratings.shop.svc.cluster.local:7070']);
  registry.set({ services: [] });
  const gone = await ads.next();
  t.same(names(gone), [], 'removal: the listener is no longer in the state of the world');
  t.equal(gone['version_info'], '2');
});

t.test('pushes are debounced: a burst of changes is one generation', async (t) => {
  const { cp, registry } = await setup(t, [http('a', 'shop', 80, ['10.0.0.1'])]);
  const ads = new RawAds(cp.port);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode(), type_url: URL.cluster, resource_names: [] });
  ack(ads, await ads.next());
  for (let i = 2; i <= 6; i++) registry.set({ services: [http('a', 'shop', 80, ['10.0.0.1']), http(`b${i}`, 'shop', 80, ['10.0.0.2'])] });
  const r = await ads.next();
  t.equal(r['version_info'], '2', 'one new generation for five changes');
  t.ok(names(r).includes('outbound|80||b6.shop.svc.cluster.local'), 'with the last state');
  ack(ads, r);
  t.ok(await ads.quiet(150));
  t.equal(cp.stats().generations, 2);
});

t.test('a stream whose first message has no node is refused', async (t) => {
  const { cp } = await setup(t, []);
  const ads = new RawAds(cp.port);
  t.teardown(() => ads.close());
  ads.send({ type_url: URL.cluster });
  await ads.quiet(300);
  t.equal(ads.error?.code, 3, 'INVALID_ARGUMENT');
  t.match(ads.error?.details, /must carry node/);
});

t.test('EDS in state of the world: only changed assignments are sent; a redefined cluster gets its endpoints again', async (t) => {
  const grpcSvc = (ips: string[], protocol: 'GRPC' | 'HTTP' = 'GRPC'): Service => ({
    name: 'ratings', namespace: 'shop', addresses: [], ports: [{ name: 'p', port: 7070, protocol, endpoints: ips.map((address) => ({ address, port: 7070, labels: {} })) }],
  });
  const RATINGS = 'outbound|7070||ratings.shop.svc.cluster.local';
  const { cp, registry } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1']), grpcSvc(['10.0.0.3'])]);
  const ads = new RawAds(cp.port);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode(), type_url: URL.cluster, resource_names: [] });
  ack(ads, await ads.next());
  ads.send({ type_url: URL.endpoint, resource_names: [REVIEWS, RATINGS] });
  const all = await ads.next();
  t.same(names(all), [RATINGS, REVIEWS].sort(), 'first response: everything subscribed');
  ack(ads, all, undefined, [REVIEWS, RATINGS]);

  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.2']), grpcSvc(['10.0.0.3'])] });
  const one = await ads.next();
  t.equal(one['type_url'], URL.endpoint);
  t.same(names(one), [REVIEWS], 'only the changed assignment');
  ack(ads, one, undefined, [REVIEWS, RATINGS]);
  t.ok(await ads.quiet(150));

  // ratings switches from gRPC to HTTP/1: its cluster is redefined, its endpoints are not.
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.2']), grpcSvc(['10.0.0.3'], 'HTTP')] });
  const cds = await ads.next();
  t.equal(cds['type_url'], URL.cluster);
  ack(ads, cds);
  const eds = await ads.next();
  t.equal(eds['type_url'], URL.endpoint);
  t.same(names(eds), [RATINGS], 'the redefined cluster gets its (unchanged) endpoints again');
});

t.test('streams, pushes and NACKs are reported to the metrics sink', async (t) => {
  const calls: string[] = [];
  const metrics = {
    xdsStreamOpened: () => calls.push('open'),
    xdsStreamClosed: () => calls.push('close'),
    recordXdsPush: (type: string) => calls.push(`push ${type}`),
    recordXdsNack: (type: string) => calls.push(`nack ${type}`),
  };
  const registry = new StaticRegistry({ services: [http('reviews', 'shop', 9080, ['10.0.0.1'])] });
  const cp = await startControlPlane({ host: '127.0.0.1', port: 0, registry, metrics });
  const ads = new RawAds(cp.port);
  ads.send({ node: sidecarNode(), type_url: URL.cluster, resource_names: [] });
  const cds = await ads.next();
  ads.send({ type_url: URL.cluster, version_info: '', response_nonce: cds['nonce'], error_detail: { code: 13, message: 'nope' } });
  await ads.quiet(100);
  ads.close();
  const deadline = Date.now() + 3000;
  while (!calls.includes('close') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await cp.close();
  t.same(calls, ['open', `push ${URL.cluster}`, `nack ${URL.cluster}`, 'close']);
});
