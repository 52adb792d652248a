import t from 'tap';
import { checkProtoJson } from '../../control-plane/proto/json.js';
import type { Service } from '../../control-plane/registry/types.js';
import { MESSAGE_TYPES, ResourceBuilder } from '../../control-plane/xds/resources.js';
import { decodeToJson } from '../../control-plane/proto/decode.js';
import {
  apiListener,
  apiRouteConfig,
  DEFAULT_TRANSLATE_OPTIONS as O,
  inboundClusters,
  inboundListener,
  loadAssignment,
  outboundListener,
  passthroughClusters,
  serviceCluster,
  sidecarRouteConfigs,
} from '../../control-plane/xds/translate.js';

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
const ADS = { ads: {}, resource_api_version: 'V3' };
const T = 'type.googleapis.com/';

t.test('EDS cluster per service port (hand-checked)', async (t) => {
  t.same(serviceCluster(reviews, reviews.ports[0]!, O), {
    name: 'outbound|9080||reviews.shop.svc.cluster.local',
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS, service_name: 'outbound|9080||reviews.shop.svc.cluster.local' },
    connect_timeout: '10s',
    lb_policy: 'ROUND_ROBIN',
  });
  t.same(serviceCluster(ratings, ratings.ports[0]!, O)['typed_extension_protocol_options'], {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
      explicit_http_config: { http2_protocol_options: {} },
    },
  }, 'gRPC ports speak HTTP/2 upstream');
  t.same(passthroughClusters().map((c) => [c['name'], c['type'], c['lb_policy']]), [
    ['PassthroughCluster', 'ORIGINAL_DST', 'CLUSTER_PROVIDED'],
    ['InboundPassthroughCluster', 'ORIGINAL_DST', 'CLUSTER_PROVIDED'],
  ]);
});

t.test('ClusterLoadAssignment: localities by zone, duplicates dropped (hand-checked)', async (t) => {
  const ep = (address: string) => ({ endpoint: { address: { socket_address: { address, port_value: 9080 } } }, load_balancing_weight: 1 });
  t.same(loadAssignment(reviews, reviews.ports[0]!, O), {
    cluster_name: 'outbound|9080||reviews.shop.svc.cluster.local',
    endpoints: [
      { locality: { zone: 'a' }, load_balancing_weight: 1, lb_endpoints: [ep('10.0.0.1')] },
      { locality: { zone: 'b' }, load_balancing_weight: 1, lb_endpoints: [ep('10.0.0.2')] },
    ],
  });
  t.same(loadAssignment(ratings, ratings.ports[0]!, O)['endpoints'], [
    { locality: {}, load_balancing_weight: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.3', port_value: 17070 } } }, load_balancing_weight: 1 }] },
  ], 'the endpoint port is where the workload listens');
});

t.test('route configurations: one per port, a virtual host per service, short names only in-namespace (hand-checked)', async (t) => {
  const fromShop = sidecarRouteConfigs(services, 'shop', O);
  t.same(fromShop.map((r) => r['name']), ['7070', '9080'], 'TCP ports have no route configuration');
  const allowAny = { name: 'allow_any', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'PassthroughCluster', timeout: '0s' } }] };
  t.same(fromShop[1], {
    name: '9080',
    virtual_hosts: [
      {
        name: 'reviews.shop.svc.cluster.local:9080',
        domains: [
          'reviews.shop.svc.cluster.local', 'reviews.shop.svc.cluster.local:9080',
          'reviews.shop.svc', 'reviews.shop.svc:9080',
          'reviews.shop', 'reviews.shop:9080',
          'reviews', 'reviews:9080',
          '10.96.0.10', '10.96.0.10:9080',
        ],
        routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'outbound|9080||reviews.shop.svc.cluster.local', timeout: '0s' } }],
      },
      allowAny,
    ],
    validate_clusters: false,
  });
  const fromData = sidecarRouteConfigs(services, 'data', O);
  const domains = ((fromData[1]!['virtual_hosts'] as Array<Record<string, unknown>>)[0]!['domains'] as string[]);
  t.notOk(domains.includes('reviews'), 'no short name from another namespace');
  t.ok(domains.includes('reviews.shop:9080'));

  // Two services with the same short name in different namespaces never claim a domain twice.
  const twin: Service = { ...reviews, namespace: 'other', addresses: ['10.96.0.10'] };
  const vh = sidecarRouteConfigs([reviews, twin], 'shop', O)[0]!['virtual_hosts'] as Array<{ domains: string[] }>;
  const all = vh.flatMap((v) => v.domains);
  t.equal(new Set(all).size, all.length, 'domains are unique across virtual hosts');
  t.equal((vh[0] as unknown as { name: string }).name, 'reviews.other.svc.cluster.local:9080', 'other/ sorts before shop/');
  t.ok(vh[0]!.domains.includes('10.96.0.10'), 'the clashing VIP stays with the first service');
  t.notOk(vh[1]!.domains.includes('10.96.0.10'), 'and is not claimed again');
  t.ok(vh[1]!.domains.includes('reviews'), 'the short name goes to the proxy-namespace service');
  t.notOk(vh[0]!.domains.includes('reviews'));
});

t.test('outbound listener 15001: original destination, chain per port, passthrough (hand-checked)', async (t) => {
  const l = outboundListener(services, O);
  t.same(l, {
    name: 'virtualOutbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    traffic_direction: 'OUTBOUND',
    listener_filters: [{ name: 'envoy.filters.listener.original_dst', typed_config: { '@type': `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst` } }],
    filter_chains: [
      ...[7070, 9080].map((port) => ({
        name: `0.0.0.0_${port}`,
        filter_chain_match: { destination_port: port },
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
              stat_prefix: `outbound_0.0.0.0_${port}`,
              codec_type: 'AUTO',
              rds: { route_config_name: String(port), config_source: ADS },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } }],
            },
          },
        ],
      })),
      {
        name: 'outbound|5432||db.data.svc.cluster.local',
        filter_chain_match: { destination_port: 5432, prefix_ranges: [{ address_prefix: '10.0.1.5', prefix_len: 32 }] },
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: { '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, stat_prefix: 'outbound|5432||db.data.svc.cluster.local', cluster: 'outbound|5432||db.data.svc.cluster.local' },
          },
        ],
      },
    ],
    default_filter_chain: {
      name: 'PassthroughCluster',
      filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, stat_prefix: 'PassthroughCluster', cluster: 'PassthroughCluster' } }],
    },
  });
});

t.test('inbound listener 15006 and its clusters: app ports to 127.0.0.1 (hand-checked)', async (t) => {
  const l = inboundListener([9080, 8080, 9080]);
  t.equal(l['name'], 'virtualInbound');
  t.same((l['address'] as Record<string, unknown>)['socket_address'], { address: '0.0.0.0', port_value: 15006 });
  t.same((l['filter_chains'] as Array<Record<string, unknown>>).map((c) => [c['name'], c['filter_chain_match']]), [
    ['inbound|8080||', { destination_port: 8080 }],
    ['inbound|9080||', { destination_port: 9080 }],
  ]);
  t.same(inboundClusters([8080])[0], {
    name: 'inbound|8080||',
    type: 'STATIC',
    connect_timeout: '10s',
    load_assignment: { cluster_name: 'inbound|8080||', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }] },
  });
});

t.test('proxyless gRPC: API listener <fqdn>:<port> with RDS (hand-checked)', async (t) => {
  t.same(apiListener(ratings, ratings.ports[0]!, O), {
    name: 'ratings.shop.svc.cluster.local:7070',
    api_listener: {
      api_listener: {
        '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
        stat_prefix: 'ratings.shop.svc.cluster.local:7070',
        codec_type: 'AUTO',
        rds: { route_config_name: 'ratings.shop.svc.cluster.local:7070', config_source: ADS },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } }],
      },
    },
  });
  t.same(apiRouteConfig(ratings, ratings.ports[0]!, O), {
    name: 'ratings.shop.svc.cluster.local:7070',
    virtual_hosts: [
      {
        name: 'ratings.shop.svc.cluster.local:7070',
        domains: ['ratings.shop.svc.cluster.local:7070', 'ratings.shop.svc.cluster.local'],
        routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'outbound|7070||ratings.shop.svc.cluster.local' } }],
      },
    ],
  });
});

t.test('every generated resource decodes strictly with Envoy protos, from its wire bytes', async (t) => {
  const gen = new ResourceBuilder(O).build({ services });
  const view = gen.view({ namespace: 'shop', appPorts: [8080] });
  let n = 0;
  for (const set of [gen.global, view]) {
    for (const [type, map] of Object.entries(set)) {
      for (const r of map.values()) {
        const json = decodeToJson(MESSAGE_TYPES[type as keyof typeof MESSAGE_TYPES], r.value);
        t.same(checkProtoJson(MESSAGE_TYPES[type as keyof typeof MESSAGE_TYPES], json), [], `${type} ${r.name}`);
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
  const g1 = b.build({ services });
  const v1 = g1.view({ namespace: 'shop', appPorts: [] });
  const moved: Service = { ...ratings, ports: [{ ...ratings.ports[0]!, endpoints: [{ address: '10.0.0.9', port: 17070, labels: {} }] }] };
  const g2 = b.build({ services: [reviews, moved, db] });
  const v2 = g2.view({ namespace: 'shop', appPorts: [] });
  const name = 'outbound|7070||ratings.shop.svc.cluster.local';
  t.not(g2.global.endpoint.get(name), g1.global.endpoint.get(name), 'changed endpoints re-encoded');
  t.equal(g2.global.cluster.get(name), g1.global.cluster.get(name), 'its cluster is the same object');
  t.equal(g2.global.endpoint.get('outbound|9080||reviews.shop.svc.cluster.local'), g1.global.endpoint.get('outbound|9080||reviews.shop.svc.cluster.local'));
  t.equal(v2.listener.get('virtualOutbound'), v1.listener.get('virtualOutbound'), 'an HTTP endpoint change leaves the capture listener alone');
  const g3 = b.build({ services: [reviews, moved] });
  t.not(g3.view({ namespace: 'shop', appPorts: [] }).listener.get('virtualOutbound'), v2.listener.get('virtualOutbound'), 'removing the TCP service changes it');
  t.notOk(g3.global.cluster.has('outbound|5432||db.data.svc.cluster.local'), 'removed service, removed cluster');
});
