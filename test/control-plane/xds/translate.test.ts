import t from 'tap';
import { decodeToJson } from '../../../control-plane/proto/decode.js';
import { checkProtoJson } from '../../../control-plane/proto/json.js';
import type { Service } from '../../../control-plane/registry/types.js';
import { ResourceBuilder } from '../../../control-plane/xds/cache/generation.js';
import { inboundClusters, passthroughClusters, serviceCluster } from '../../../control-plane/xds/translate/clusters.js';
import { DEFAULT_TRANSLATE_OPTIONS as O, MESSAGE_TYPES, type Json, type XdsType } from '../../../control-plane/xds/translate/common.js';
import { loadAssignment } from '../../../control-plane/xds/translate/endpoints.js';
import { apiListener, inboundListener, outboundListener } from '../../../control-plane/xds/translate/listeners.js';
import { apiRouteConfig, sidecarRouteConfigs } from '../../../control-plane/xds/translate/routes.js';
import { matchGolden, unusedGoldens } from '../golden.js';

/**
 * Translation against golden files (testdata/translate/, hand-checked: names and
 * fields as Istio and Envoy's protos have them; rewrite with UPDATE_GOLDENS=1 and
 * review the diff). The semantic rules the goldens encode are asserted separately
 * below, so that a rewritten golden cannot silently drop them.
 */

const reviews: Service = {
  name: 'reviews',
  namespace: 'shop',
  addresses: ['10.96.0.10'],
  ports: [
    {
      name: 'http',
      port: 9080,
      protocol: 'HTTP',
      endpoints: [
        { address: '10.0.0.2', port: 9080, labels: { 'topology.kubernetes.io/zone': 'b' } },
        { address: '10.0.0.1', port: 9080, labels: { 'topology.kubernetes.io/zone': 'a' } },
        { address: '10.0.0.1', port: 9080, labels: { 'topology.kubernetes.io/zone': 'a' } },
      ],
    },
  ],
};
const ratings: Service = {
  name: 'ratings',
  namespace: 'shop',
  addresses: [],
  ports: [{ name: 'grpc', port: 7070, protocol: 'GRPC', endpoints: [{ address: '10.0.0.3', port: 17070, labels: {} }] }],
};
const db: Service = {
  name: 'db',
  namespace: 'data',
  addresses: [],
  ports: [{ name: 'pg', port: 5432, protocol: 'TCP', endpoints: [{ address: '10.0.1.5', port: 5432, labels: {} }] }],
};
const services = [reviews, ratings, db];
// same short name and VIP as reviews, in a namespace that sorts first
const twin: Service = { ...reviews, namespace: 'other', addresses: ['10.96.0.10'] };

/** Each case: the golden file (under testdata/) and the translation it holds. */
const CASES: ReadonlyArray<{ golden: string; type: XdsType; build: () => Json[] }> = [
  { golden: 'translate/clusters/service-http', type: 'cluster', build: () => [serviceCluster(reviews, reviews.ports[0]!, O)] },
  { golden: 'translate/clusters/service-grpc-http2-upstream', type: 'cluster', build: () => [serviceCluster(ratings, ratings.ports[0]!, O)] },
  { golden: 'translate/clusters/passthrough', type: 'cluster', build: () => passthroughClusters() },
  { golden: 'translate/clusters/inbound-8080', type: 'cluster', build: () => inboundClusters([8080]) },
  { golden: 'translate/endpoints/localities-by-zone-duplicates-dropped', type: 'endpoint', build: () => [loadAssignment(reviews, reviews.ports[0]!, O)] },
  { golden: 'translate/endpoints/workload-port', type: 'endpoint', build: () => [loadAssignment(ratings, ratings.ports[0]!, O)] },
  { golden: 'translate/routes/sidecar-from-shop', type: 'route', build: () => sidecarRouteConfigs(services, 'shop', O) },
  { golden: 'translate/routes/sidecar-from-data', type: 'route', build: () => sidecarRouteConfigs(services, 'data', O) },
  { golden: 'translate/routes/sidecar-clashing-names', type: 'route', build: () => sidecarRouteConfigs([reviews, twin], 'shop', O) },
  { golden: 'translate/routes/api-grpc', type: 'route', build: () => [apiRouteConfig(ratings, ratings.ports[0]!, O)] },
  { golden: 'translate/listeners/outbound', type: 'listener', build: () => [outboundListener(services, O)] },
  { golden: 'translate/listeners/inbound-app-ports', type: 'listener', build: () => [inboundListener([9080, 8080, 9080])] },
  { golden: 'translate/listeners/api-grpc', type: 'listener', build: () => [apiListener(ratings, ratings.ports[0]!, O)] },
];

t.test('translation matches the golden files, and every golden is a valid Envoy resource', async (t) => {
  for (const c of CASES) {
    const out = c.build();
    matchGolden(t, c.golden, out);
    for (const r of out) t.same(checkProtoJson(MESSAGE_TYPES[c.type], r), [], `${c.golden}: strict ${c.type}`);
  }
});

t.test('every golden file is used by a case', async (t) => {
  t.same(unusedGoldens('translate', CASES.map((c) => c.golden)), [], 'no stale golden under testdata/translate/');
});

type VHost = { name: string; domains: string[] };
const vhosts = (rc: Json | undefined): VHost[] => (rc?.['virtual_hosts'] as VHost[] | undefined) ?? [];

t.test('the rules the goldens encode', async (t) => {
  t.same(sidecarRouteConfigs(services, 'shop', O).map((r) => r['name']), ['7070', '9080'], 'one route configuration per HTTP port; TCP ports have none');
  const fromShop = vhosts(sidecarRouteConfigs(services, 'shop', O)[1]).find((v) => v.name === 'reviews.shop.svc.cluster.local:9080')!;
  const fromData = vhosts(sidecarRouteConfigs(services, 'data', O)[1]).find((v) => v.name === 'reviews.shop.svc.cluster.local:9080')!;
  t.ok(fromShop.domains.includes('reviews') && fromShop.domains.includes('reviews:9080'), 'short names in the service namespace');
  t.notOk(fromData.domains.includes('reviews'), 'no short name from another namespace');
  t.ok(fromData.domains.includes('reviews.shop:9080'));

  const vh = vhosts(sidecarRouteConfigs([reviews, twin], 'shop', O)[0]);
  const all = vh.flatMap((v) => v.domains);
  t.equal(new Set(all).size, all.length, 'domains are unique across virtual hosts');
  t.equal(vh[0]!.name, 'reviews.other.svc.cluster.local:9080', 'other/ sorts before shop/');
  t.ok(vh[0]!.domains.includes('10.96.0.10') && !vh[1]!.domains.includes('10.96.0.10'), 'a clashing VIP stays with the first service');
  t.ok(vh[1]!.domains.includes('reviews') && !vh[0]!.domains.includes('reviews'), 'the short name goes to the proxy-namespace service');

  const cla = loadAssignment(reviews, reviews.ports[0]!, O)['endpoints'] as Json[];
  t.same(cla.map((l) => l['locality']), [{ zone: 'a' }, { zone: 'b' }], 'one locality per zone, sorted');
  t.equal(cla.flatMap((l) => l['lb_endpoints'] as Json[]).length, 2, 'the duplicate endpoint is dropped');
  t.same(
    (inboundListener([9080, 8080, 9080])['filter_chains'] as Json[]).map((c) => c['name']),
    ['inbound|8080||', 'inbound|9080||'],
    'app ports deduplicated and sorted',
  );
});

t.test('every generated resource decodes strictly with Envoy protos, from its wire bytes', async (t) => {
  const gen = new ResourceBuilder(O).build({ services });
  const view = gen.view({ namespace: 'shop', appPorts: [8080], labels: {}, ips: [], proxyless: false });
  let n = 0;
  for (const set of [gen.global, view]) {
    for (const [type, map] of Object.entries(set) as Array<[XdsType, Map<string, { name: string; value: Uint8Array }>]>) {
      for (const r of map.values()) {
        const json = decodeToJson(MESSAGE_TYPES[type], r.value);
        t.same(checkProtoJson(MESSAGE_TYPES[type], json), [], `${type} ${r.name}`);
        n++;
      }
    }
  }
  // 4 service ports x (cluster + CLA) + 2 API listeners + 2 API routes + 2 passthrough
  // + inbound cluster + 2 capture listeners + 2 sidecar route configurations
  t.equal(n, 3 * 2 + 2 + 2 + 2 + 1 + 2 + 2);
});

t.test('generations reuse unchanged resources by identity', async (t) => {
  const b = new ResourceBuilder(O);
  const proxy = { namespace: 'shop', appPorts: [], labels: {}, ips: [], proxyless: false };
  const g1 = b.build({ services });
  const v1 = g1.view(proxy);
  const moved: Service = { ...ratings, ports: [{ ...ratings.ports[0]!, endpoints: [{ address: '10.0.0.9', port: 17070, labels: {} }] }] };
  const g2 = b.build({ services: [reviews, moved, db] });
  const v2 = g2.view(proxy);
  const name = 'outbound|7070||ratings.shop.svc.cluster.local';
  t.not(g2.global.endpoint.get(name), g1.global.endpoint.get(name), 'changed endpoints re-encoded');
  t.equal(g2.global.cluster.get(name), g1.global.cluster.get(name), 'its cluster is the same object');
  t.equal(g2.global.endpoint.get('outbound|9080||reviews.shop.svc.cluster.local'), g1.global.endpoint.get('outbound|9080||reviews.shop.svc.cluster.local'));
  t.equal(v2.listener.get('virtualOutbound'), v1.listener.get('virtualOutbound'), 'an HTTP endpoint change leaves the capture listener alone');
  t.equal(v2.route, v1.route, 'and the route configurations');
  const g3 = b.build({ services: [reviews, moved] });
  t.not(g3.view(proxy).listener.get('virtualOutbound'), v2.listener.get('virtualOutbound'), 'removing the TCP service changes it');
  t.notOk(g3.global.cluster.has('outbound|5432||db.data.svc.cluster.local'), 'removed service, removed cluster');
  const dbMoved: Service = { ...db, ports: [{ ...db.ports[0]!, endpoints: [{ address: '10.0.1.5', port: 15432, labels: {} }] }] };
  const g4 = b.build({ services: [reviews, moved, dbMoved] });
  const g5 = b.build({ services: [reviews, moved, { ...dbMoved, ports: [{ ...dbMoved.ports[0]!, endpoints: [{ address: '10.0.1.5', port: 25432, labels: {} }] }] }] });
  t.equal(g5.view(proxy).listener.get('virtualOutbound'), g4.view(proxy).listener.get('virtualOutbound'), 'a TCP endpoint port change rebuilds the listener to the same bytes: same object');
});
