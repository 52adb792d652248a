import t, { type Test } from 'tap';
import { checkProtoJson } from '../../../control-plane/proto/json.js';
import { StaticRegistry, type Service } from '../../../control-plane/registry/types.js';
import { startControlPlane, type ControlPlane } from '../../../control-plane/server.js';
import { RawAds, sidecarNode, URL, waitFor, type J } from '../ads-client.js';

function http(name: string, ns: string, port: number, ips: string[]): Service {
  return { name, namespace: ns, addresses: [], ports: [{ name: 'http', port, protocol: 'HTTP', endpoints: ips.map((address) => ({ address, port, labels: {} })) }] };
}
const REVIEWS = 'outbound|9080||reviews.shop.svc.cluster.local';
const DETAILS = 'outbound|9080||details.shop.svc.cluster.local';

async function setup(t: Test, services: Service[]): Promise<{ cp: ControlPlane; registry: StaticRegistry }> {
  const registry = new StaticRegistry({ services });
  const cp = await startControlPlane({ host: '127.0.0.1', port: 0, registry, debounce: { quietMs: 30, maxDelayMs: 300 } });
  t.teardown(() => cp.close());
  return { cp, registry };
}

const resNames = (r: J): string[] => ((r['resources'] as J[] | undefined) ?? []).map((x) => x['name'] as string).sort();
const removed = (r: J): string[] => ((r['removed_resources'] as string[] | undefined) ?? []).slice().sort();
const versions = (r: J): Record<string, string> => Object.fromEntries(((r['resources'] as J[] | undefined) ?? []).map((x) => [x['name'], x['version']]));

t.test('delta: wildcard CDS, changes as upserts and removals, ACK, strict resources', async (t) => {
  const { cp, registry } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1'])]);
  const ads = new RawAds(cp.port, true);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode(), type_url: URL.cluster });
  const first = await ads.next();
  t.equal(first['type_url'], URL.cluster);
  t.same(resNames(first), ['InboundPassthroughCluster', 'PassthroughCluster', 'inbound|8080||', REVIEWS].sort());
  for (const r of first['resources'] as J[]) {
    const { '@type': type, ...body } = r['resource'] as J;
    t.equal(type, URL.cluster);
    t.same(checkProtoJson('envoy.config.cluster.v3.Cluster', body), [], `strict ${r['name']}`);
    t.equal(body['name'], r['name']);
    t.ok(r['version'], 'each resource carries a version');
  }
  ads.send({ type_url: URL.cluster, response_nonce: first['nonce'] });
  t.ok(await ads.quiet(150), 'ACK: no response');

  registry.set({ services: [http('details', 'shop', 9080, ['10.0.0.2'])] });
  const change = await ads.next();
  t.same(resNames(change), [DETAILS], 'only the new cluster is sent');
  t.same(removed(change), [REVIEWS], 'the removed one is named');
  ads.send({ type_url: URL.cluster, response_nonce: change['nonce'] });
  t.ok(await ads.quiet(100));
  t.ok(await waitFor(() => cp.proxies()[0]?.types.cluster?.acks === 2), 'both responses ACKed');
});

t.test('delta: subscribe / unsubscribe named resources; unknown names reported removed', async (t) => {
  const { cp, registry } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1']), http('details', 'shop', 9080, ['10.0.0.2'])]);
  const ads = new RawAds(cp.port, true);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode(), type_url: URL.endpoint, resource_names_subscribe: [REVIEWS] });
  const r1 = await ads.next();
  t.same(resNames(r1), [REVIEWS]);
  t.same(r1['resources'][0].resource.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '10.0.0.1', port_value: 9080 });
  ads.send({ type_url: URL.endpoint, response_nonce: r1['nonce'], resource_names_subscribe: [DETAILS, 'outbound|1||nope.shop.svc.cluster.local'] });
  const r2 = await ads.next();
  t.same(resNames(r2), [DETAILS], 'only the newly subscribed resource');
  t.same(removed(r2), ['outbound|1||nope.shop.svc.cluster.local'], 'a name that does not exist is reported removed');
  ads.send({ type_url: URL.endpoint, response_nonce: r2['nonce'], resource_names_unsubscribe: [REVIEWS] });
  t.ok(await ads.quiet(100), 'unsubscribe needs no response');
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.9']), http('details', 'shop', 9080, ['10.0.0.2'])] });
  t.ok(await ads.quiet(300), 'a change to an unsubscribed resource is not pushed');
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.9']), http('details', 'shop', 9080, ['10.0.0.8'])] });
  const r3 = await ads.next();
  t.same(resNames(r3), [DETAILS]);
  t.same(cp.proxies()[0]!.types.endpoint!.names, [DETAILS, 'outbound|1||nope.shop.svc.cluster.local']);
});

t.test('delta: reconnect with initial_resource_versions sends only what changed', async (t) => {
  const { cp, registry } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1']), http('details', 'shop', 9080, ['10.0.0.2'])]);
  const a = new RawAds(cp.port, true);
  a.send({ node: sidecarNode(), type_url: URL.endpoint, resource_names_subscribe: [REVIEWS, DETAILS] });
  const held = versions(await a.next());
  t.same(Object.keys(held).sort(), [DETAILS, REVIEWS].sort());
  a.close();
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.7'])] });
  await new Promise((r) => setTimeout(r, 150));
  const b = new RawAds(cp.port, true);
  t.teardown(() => b.close());
  b.send({ node: sidecarNode(), type_url: URL.endpoint, resource_names_subscribe: [REVIEWS, DETAILS], initial_resource_versions: held });
  const r = await b.next();
  t.same(resNames(r), [REVIEWS], 'the changed resource only');
  t.not(versions(r)[REVIEWS], held[REVIEWS]);
  t.same(removed(r), [DETAILS], 'the one that disappeared while disconnected');
});

t.test('delta: NACK counted and the client taken back to its last ACKed holdings', async (t) => {
  const details = http('details', 'shop', 9080, ['10.0.0.5']);
  const { cp, registry } = await setup(t, [http('reviews', 'shop', 9080, ['10.0.0.1']), details]);
  const ads = new RawAds(cp.port, true);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode(), type_url: URL.endpoint, resource_names_subscribe: [REVIEWS, DETAILS] });
  const r1 = await ads.next();
  ads.send({ type_url: URL.endpoint, response_nonce: r1['nonce'] });
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.2']), details] });
  const r2 = await ads.next();
  t.same(resNames(r2), [REVIEWS], 'only the changed assignment');
  ads.send({ type_url: URL.endpoint, response_nonce: r2['nonce'], error_detail: { code: 3, message: 'rejected' } });
  await waitFor(() => cp.proxies()[0]?.types.endpoint?.nacks === 1);
  const st = cp.proxies()[0]!.types.endpoint!;
  t.equal(st.nacks, 1);
  t.equal(st.lastError, 'rejected');
  t.equal(cp.stats().nacks, 1);
  // The next change touches details only; reviews is diffed against the version the
  // client kept (10.0.0.1), not the rejected one, so it is sent again.
  registry.set({ services: [http('reviews', 'shop', 9080, ['10.0.0.2']), http('details', 'shop', 9080, ['10.0.0.6'])] });
  const r3 = await ads.next();
  t.same(resNames(r3), [DETAILS, REVIEWS].sort(), 'the rejected reviews assignment is resent with the details change');
});

t.test('delta: resource versions are content hashes, stable across control-plane restarts', async (t) => {
  const services = [http('reviews', 'shop', 9080, ['10.0.0.1'])];
  const first = await setup(t, services);
  const a = new RawAds(first.cp.port, true);
  a.send({ node: sidecarNode(), type_url: URL.endpoint, resource_names_subscribe: [REVIEWS] });
  const held = versions(await a.next());
  a.close();
  await first.cp.close();
  const second = await setup(t, services);
  const b = new RawAds(second.cp.port, true);
  t.teardown(() => b.close());
  b.send({ node: sidecarNode(), type_url: URL.endpoint, resource_names_subscribe: [REVIEWS], initial_resource_versions: held });
  const r = await b.next();
  t.same(resNames(r), [], 'nothing resent: the restarted server recognises what the client holds');
  t.same(removed(r), []);
});
