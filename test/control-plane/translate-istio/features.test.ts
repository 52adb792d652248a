/**
 * Features checked by assertion rather than golden: what depends on who the proxy is (sourceLabels,
 * sourceNamespace), the ISTIO_MUTUAL hook, SDS-based TLS, ServiceEntry workloadSelector and NONE with
 * endpoints, durations, and bad objects that must not break anything else. Expected values written by
 * hand from Istio's and Envoy's documentation.
 */
import t from 'tap';
import type { ConfigObject } from '../../../config/model.js';
import { meshOptions } from '../../../control-plane/model/options.js';
import type { MeshProxy } from '../../../control-plane/model/proxy.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import { duration } from '../../../control-plane/xds/translate/istio/envoy.js';
import { hashPolicy } from '../../../control-plane/xds/translate/istio/hash.js';
import type { Json } from '../../../control-plane/xds/translate/istio/envoy.js';
import { translateProxyless, translateSidecar, type ProxyResources } from '../../../control-plane/xds/translate/istio/translate.js';
import { obj } from '../model/fixtures.js';
import { checkAll } from './check.js';
import { registry } from './registry.js';

function routesOf(r: ProxyResources, port: string, vhost: string): Json[] {
  const rc = r.routes.find((x) => x['name'] === port);
  const vh = (rc?.['virtual_hosts'] as Json[] | undefined)?.find((v) => v['name'] === vhost);
  return (vh?.['routes'] as Json[] | undefined) ?? [];
}

function cluster(r: ProxyResources, name: string): Json | undefined {
  return r.clusters.find((c) => c['name'] === name);
}

const REVIEWS = 'reviews.shop.svc.cluster.local:9080';

t.test('sourceLabels and sourceNamespace are decided per proxy', async (t) => {
  const vs = obj('VirtualService', 'shop', 'reviews', {
    hosts: ['reviews'],
    http: [
      { name: 'from-v2', match: [{ sourceLabels: { version: 'v2' } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
      { name: 'from-front', match: [{ sourceNamespace: 'front' }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] },
      { name: 'rest', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    ],
  });
  const snap = buildMeshSnapshot({ registry, configs: [vs], options: meshOptions() });
  const names = (p: MeshProxy): unknown[] => routesOf(translateSidecar(snap, p), '9080', REVIEWS).map((r) => r['name']);
  t.same(names({ namespace: 'shop', labels: { version: 'v1' } }), ['rest']);
  t.same(names({ namespace: 'shop', labels: { version: 'v2', app: 'x' } }), ['from-v2', 'rest']);
  t.same(names({ namespace: 'front', labels: {} }), ['from-front', 'rest']);
  t.same(names({ namespace: 'front', labels: { version: 'v2' } }), ['from-v2', 'from-front', 'rest']);
});

t.test('a VirtualService whose routes all name other sources falls back to the default route', async (t) => {
  const vs = obj('VirtualService', 'shop', 'reviews', { hosts: ['reviews'], http: [{ match: [{ sourceNamespace: 'elsewhere' }], route: [{ destination: { host: 'reviews' } }] }] });
  const snap = buildMeshSnapshot({ registry, configs: [vs], options: meshOptions() });
  t.same(routesOf(translateSidecar(snap, { namespace: 'shop', labels: {} }), '9080', REVIEWS), [
    { name: 'default', match: { prefix: '/' }, route: { cluster: 'outbound|9080||reviews.shop.svc.cluster.local', timeout: '0s', retry_policy: ISTIO_DEFAULT_RETRY } },
  ]);
});

/** Istio's default retry policy (retry.DefaultPolicy / ConvertPolicy(nil, false)) as Envoy JSON. */
const ISTIO_DEFAULT_RETRY = {
  retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
  num_retries: 2,
  retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
  host_selection_retry_max_attempts: '5',
  retriable_status_codes: [503],
};

t.test('a service without a VirtualService gets Istio\'s default retry policy, proxyless clients the part grpc-js-xds reads', async (t) => {
  const snap = buildMeshSnapshot({ registry, configs: [], options: meshOptions() });
  const proxyless = translateProxyless(snap, { namespace: 'shop', labels: {} });
  const rc = proxyless.routes.find((r) => r['name'] === 'ratings.shop.svc.cluster.local:7070');
  const routes = (rc?.['virtual_hosts'] as Json[] | undefined)?.[0]?.['routes'];
  t.same(routes, [
    {
      name: 'default',
      match: { prefix: '/' },
      route: {
        cluster: 'outbound|7070||ratings.shop.svc.cluster.local',
        timeout: '0s',
        max_stream_duration: { max_stream_duration: '0s' },
        retry_policy: { retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: 2 },
      },
    },
  ], 'proxyless: retry_on and num_retries only (grpc-js-xds retries unavailable and cancelled, ignores the rest)');
  t.same(checkAll(proxyless), [], 'every proxyless resource passes the strict checker');
});

t.test('ISTIO_MUTUAL goes through the identity hook; plain text without one', async (t) => {
  const dr = obj('DestinationRule', 'shop', 'reviews', { host: 'reviews', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL', sni: 'outbound_.9080_._.reviews' } }, subsets: [{ name: 'v1', labels: { version: 'v1' } }] });
  const snap = buildMeshSnapshot({ registry, configs: [dr], options: meshOptions() });
  const proxy = { namespace: 'shop', labels: {} };
  t.notOk(cluster(translateSidecar(snap, proxy, {}), 'outbound|9080||reviews.shop.svc.cluster.local')?.['transport_socket'], 'no hooks: plain text');
  const seen: unknown[] = [];
  const socket = { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni: 'from-hook' } };
  const r = translateSidecar(snap, proxy, { istioMutual: (req) => (seen.push(req), socket) });
  t.same(cluster(r, 'outbound|9080|v1|reviews.shop.svc.cluster.local')?.['transport_socket'], socket);
  t.same(seen, [
    { host: 'reviews.shop.svc.cluster.local', port: 9080, serverIdentities: [], protocol: 'HTTP', subjectAltNames: [], sni: 'outbound_.9080_._.reviews' },
    { host: 'reviews.shop.svc.cluster.local', port: 9080, subset: 'v1', serverIdentities: [], protocol: 'HTTP', subjectAltNames: [], sni: 'outbound_.9080_._.reviews' },
  ]);
  t.same(checkAll(r), []);
});

t.test('credentialName: certificates and CA by SDS under Istio\'s kubernetes:// names', async (t) => {
  const dr = obj('DestinationRule', 'shop', 'reviews', { host: 'reviews', trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'client-cert', subjectAltNames: ['reviews.example.com'] } } });
  const r = translateSidecar(buildMeshSnapshot({ registry, configs: [dr], options: meshOptions() }), { namespace: 'shop', labels: {} });
  const ads = { ads: {}, resource_api_version: 'V3' };
  t.same(cluster(r, 'outbound|9080||reviews.shop.svc.cluster.local')?.['transport_socket'], {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: 'kubernetes://client-cert', sds_config: ads }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'reviews.example.com' } }] },
          validation_context_sds_secret_config: { name: 'kubernetes://client-cert-cacert', sds_config: ads },
        },
      },
    },
  });
  t.same(checkAll(r), []);
});

t.test('ServiceEntry: workloadSelector picks workloads of its namespace; NONE with endpoints is EDS', async (t) => {
  const selected = obj('ServiceEntry', 'shop', 'canary', { hosts: ['canary.internal'], ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 9080 }], resolution: 'STATIC', workloadSelector: { matchLabels: { version: 'v2' } } });
  const none = obj('ServiceEntry', 'shop', 'none', { hosts: ['none.internal'], ports: [{ number: 81, name: 'http', protocol: 'HTTP' }], resolution: 'NONE', endpoints: [{ address: '10.3.0.1' }] });
  const r = translateSidecar(buildMeshSnapshot({ registry, configs: [selected, none], options: meshOptions() }), { namespace: 'shop', labels: {} });
  const cla = r.endpoints.find((e) => e['cluster_name'] === 'outbound|80||canary.internal');
  // both v2 workloads of shop (a reviews and a ratings pod), on the entry's targetPort
  const ep = (address: string): Json => ({ endpoint: { address: { socket_address: { address, port_value: 9080 } } }, load_balancing_weight: 1 });
  t.same(cla?.['endpoints'], [{ locality: {}, load_balancing_weight: 2, lb_endpoints: [ep('10.0.0.2'), ep('10.0.0.6')] }]);
  t.equal(cluster(r, 'outbound|81||none.internal')?.['type'], 'EDS');
  t.same(checkAll(r), []);
});

t.test('Istio durations become proto3 JSON durations', async (t) => {
  t.equal(duration('1m'), '60s');
  t.equal(duration('8ms'), '0.008s');
  t.equal(duration('1h30m'), '5400s');
  t.equal(duration('1.5s'), '1.5s');
  t.equal(duration('250us'), '0.00025s');
  t.equal(duration('0s'), '0s');
  t.equal(duration('soon'), 'soon', 'unreadable: passed on for the checker to name');
});

t.test('objects missing what the indexes need are left out; the rest still translates', async (t) => {
  const bad: ConfigObject[] = [
    { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'nohost', namespace: 'shop' }, spec: {} },
    { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'nohosts', namespace: 'shop' }, spec: { ports: [] } },
    { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'nospec', namespace: 'shop' } } as unknown as ConfigObject,
    obj('VirtualService', 'shop', 'nodest', { hosts: ['ratings'], http: [{ route: [{ weight: 100 } as never] }], tcp: [{ route: [] }], tls: [{ route: [{ destination: { host: 'ratings' } }] } as never] }),
  ];
  const good = obj('VirtualService', 'shop', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }], timeout: '5s' }] });
  const snap = buildMeshSnapshot({ registry, configs: [...bad, good], options: meshOptions() });
  const r = translateSidecar(snap, { namespace: 'shop', labels: {} });
  t.equal((routesOf(r, '9080', REVIEWS)[0]?.['route'] as Json | undefined)?.['timeout'], '5s', 'the good VirtualService is in force');
  t.same(routesOf(r, '7070', 'ratings.shop.svc.cluster.local:7070').map((x) => x['name']), ['default'], 'a route without destinations is dropped');
  t.same(checkAll(r), []);
});

t.test('a VirtualService for host * replaces the catch-all virtual host instead of clashing with it', async (t) => {
  const vs = obj('VirtualService', 'shop', 'everything', { hosts: ['*'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const r = translateSidecar(buildMeshSnapshot({ registry, configs: [vs], options: meshOptions() }), { namespace: 'shop', labels: {} });
  const rc = r.routes.find((x) => x['name'] === '9080');
  const vhosts = (rc?.['virtual_hosts'] as Json[]).map((v) => v['name']);
  t.same(vhosts, ['reviews.shop.svc.cluster.local:9080', '*:9080']);
  t.same(checkAll(r), []);
});

t.test('less common fields: regex rewrite, redirect scheme/port, bytes body, mirrors, back-off, cookie and query hashing, PASSTHROUGH', async (t) => {
  const vs = obj('VirtualService', 'shop', 'reviews', {
    hosts: ['reviews'],
    http: [
      { match: [{ uri: { prefix: '/r' } }], redirect: { scheme: 'https', port: 8443, redirectCode: 308 } },
      { match: [{ uri: { prefix: '/b' } }], directResponse: { status: 503, body: { bytes: 'aGk=' } } },
      {
        match: [{ uri: { prefix: '/x' } }],
        rewrite: { uriRegexRewrite: { match: '^/x/(.*)', rewrite: '/\\1' } },
        mirrors: [{ destination: { host: 'ratings', port: { number: 7070 } } }, { destination: { host: 'reviews', subset: 'v2' }, percentage: { value: 0.5 } }],
        retries: { attempts: 4, retryOn: '503', retryRemoteLocalities: true, retryIgnorePreviousHosts: false, backoff: '25ms' },
        fault: { delay: { fixedDelay: '1s', percent: 7 }, abort: { httpStatus: 418 } },
        route: [{ destination: { host: 'reviews', subset: 'v2' } }],
      },
    ],
  });
  const dr = obj('DestinationRule', 'shop', 'reviews', {
    host: 'reviews',
    trafficPolicy: {
      loadBalancer: { consistentHash: { httpCookie: { name: 'session', ttl: '1h', path: '/' } } },
      connectionPool: { http: { useClientProtocol: true }, tcp: { maxConnectionDuration: '30m', idleTimeout: '90s' } },
      tls: { mode: 'SIMPLE', insecureSkipVerify: true, sni: 'reviews.example.com' },
    },
    subsets: [{ name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { simple: 'PASSTHROUGH' } } }],
  });
  const ratingsDr = obj('DestinationRule', 'shop', 'ratings', { host: 'ratings', trafficPolicy: { loadBalancer: { consistentHash: { httpQueryParameterName: 'user' } }, connectionPool: { http: { h2UpgradePolicy: 'UPGRADE' } } } });
  const r = translateSidecar(buildMeshSnapshot({ registry, configs: [vs, dr, ratingsDr], options: meshOptions() }), { namespace: 'shop', labels: {} });
  t.same(checkAll(r), [], 'every resource passes the strict checker');
  const [redirect, bytes, rewrite] = routesOf(r, '9080', REVIEWS);
  t.same(redirect?.['redirect'], { scheme_redirect: 'https', port_redirect: 8443, response_code: 'PERMANENT_REDIRECT' });
  t.same(bytes?.['direct_response'], { status: 503, body: { inline_bytes: 'aGk=' } });
  const action = rewrite?.['route'] as Json;
  t.same(action['regex_rewrite'], { pattern: { regex: '^/x/(.*)' }, substitution: '/\\1' });
  t.same(action['request_mirror_policies'], [
    { cluster: 'outbound|7070||ratings.shop.svc.cluster.local', runtime_fraction: { default_value: { numerator: 1000000, denominator: 'MILLION' } }, trace_sampled: false },
    { cluster: 'outbound|9080|v2|reviews.shop.svc.cluster.local', runtime_fraction: { default_value: { numerator: 5000, denominator: 'MILLION' } }, trace_sampled: false },
  ]);
  t.same(action['retry_policy'], {
    retry_on: 'retriable-status-codes',
    num_retries: 4,
    retry_priority: { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', update_frequency: 2 } },
    retry_back_off: { base_interval: '0.025s' },
    host_selection_retry_max_attempts: '5',
    retriable_status_codes: [503],
  }, 'previous hosts not preferred when retryIgnorePreviousHosts is false');
  t.equal(action['hash_policy'], undefined, "the subset's loadBalancer (PASSTHROUGH) replaces the rule's consistent hash");
  t.same((rewrite?.['typed_per_filter_config'] as Json)['envoy.filters.http.fault'], {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    delay: { fixed_delay: '1s', percentage: { numerator: 7, denominator: 'HUNDRED' } },
    abort: { http_status: 418 },
  });
  const base = cluster(r, 'outbound|9080||reviews.shop.svc.cluster.local');
  t.equal(base?.['lb_policy'], 'RING_HASH');
  t.same(base?.['transport_socket'], {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: {}, sni: 'reviews.example.com' },
  }, 'insecureSkipVerify: no validation context');
  t.same((base?.['typed_extension_protocol_options'] as Json)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'], {
    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    common_http_protocol_options: { idle_timeout: '90s', max_connection_duration: '1800s' },
    use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
  });
  const passthrough = cluster(r, 'outbound|9080|v2|reviews.shop.svc.cluster.local');
  t.equal(passthrough?.['type'], 'ORIGINAL_DST');
  t.equal(passthrough?.['lb_policy'], 'CLUSTER_PROVIDED');
  t.notOk(r.endpoints.some((e) => e['cluster_name'] === 'outbound|9080|v2|reviews.shop.svc.cluster.local'), 'no load assignment for an ORIGINAL_DST cluster');
  t.same(hashPolicy({ httpCookie: { name: 'session', ttl: '1h', path: '/' } }), [{ cookie: { name: 'session', ttl: '3600s', path: '/' } }]);
  const ratingsRoute = routesOf(r, '7070', 'ratings.shop.svc.cluster.local:7070')[0]?.['route'] as Json;
  t.same(ratingsRoute['hash_policy'], [{ query_parameter: { name: 'user' } }]);
});
