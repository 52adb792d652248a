import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { main } from '../../cli/main.js';
import { UserError } from '../../common/errors.js';
import { parsePrometheusScrape } from '../../bootstrap/app-metrics.js';
import { grpcHealthCheckFrame, parseAppProbe } from '../../bootstrap/app-probes.js';
import { parseHostPort, renderBootstrap, type SidecarBootstrapParams } from '../../bootstrap/sidecar.js';
import { STATUS_LUA } from '../../bootstrap/status-lua.js';
import { bootstrapParams } from '../../bootstrap/commands.js';
import { checkProtoJson, encodeProtoJson } from '../../control-plane/proto/json.js';
import { envoyRoot } from '../../control-plane/proto/root.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

// The status port's Lua and health_check filters must be known to the shared proto root:
// the strict checker rejects unknown Any types, so these asserts guard root.ts's list.
t.ok(envoyRoot().lookup('envoy.extensions.filters.http.lua.v3.Lua'), 'the Lua filter proto is loaded');
t.ok(envoyRoot().lookup('envoy.extensions.filters.http.health_check.v3.HealthCheck'), 'the health_check filter proto is loaded');

// What the injection webhook passes: run-time values as Kubernetes $(VAR) references.
const webhookParams: SidecarBootstrapParams = {
  podName: '$(POD_NAME)',
  podNamespace: 'shop',
  podIp: '$(INSTANCE_IP)',
  serviceAccount: 'reviews',
  xdsAddress: 'tandem-xds.tandem-system.svc:15010',
  labels: { app: 'reviews', version: 'v2' },
  appPorts: [9080, 8080, 9080],
  appProbes: {
    '/app-health/reviews/livez': { httpGet: { path: '/healthz', port: 9080, httpHeaders: [{ name: 'X-Probe', value: 'live' }] }, timeoutSeconds: 3 },
    '/app-health/reviews/readyz': { httpGet: { path: 'ready', port: '8443', scheme: 'HTTPS', host: 'reviews.local' } },
    '/app-health/reviews/startupz': { tcpSocket: { port: 9080 } },
    '/app-health/sidecar/livez': { httpGet: { port: 'http' } },
    '/app-health/cart/livez': { grpc: { port: 9090, service: 'shop.Cart' }, timeoutSeconds: 2 },
    '/app-health/cart/readyz': { grpc: { port: 9090 } },
    '/app-health/cart/startupz': { tcpSocket: { port: 9090, host: 'db.local' } },
  },
  prometheusScrape: { scrape: 'true', path: '/metrics', port: '9080' },
};

type J = Record<string, any>;

t.test('the webhook bootstrap decodes strictly as envoy.config.bootstrap.v3.Bootstrap', async (t) => {
  const b = renderBootstrap(webhookParams);
  t.same(checkProtoJson(BOOTSTRAP, b), []);
  t.ok(encodeProtoJson(BOOTSTRAP, b).length > 0, 'encodes to protobuf binary');
  // It travels as one container argument: --config-yaml <JSON> (JSON is YAML).
  const arg = JSON.stringify(b);
  t.same(checkProtoJson(BOOTSTRAP, JSON.parse(arg)), [], 'the string form round-trips');
  t.match(arg, /"id":"sidecar~\$\(INSTANCE_IP\)~\$\(POD_NAME\)\.shop~shop\.svc\.cluster\.local"/, '$(VAR) references are left for the kubelet');
});

t.test('node identity, admin and ADS (hand-checked)', async (t) => {
  const b = renderBootstrap({ ...webhookParams, podName: 'reviews-7d9f', podIp: '10.1.2.3' }) as J;
  t.same(b['node'], {
    id: 'sidecar~10.1.2.3~reviews-7d9f.shop~shop.svc.cluster.local',
    cluster: 'reviews.shop',
    metadata: {
      NAME: 'reviews-7d9f',
      NAMESPACE: 'shop',
      INSTANCE_IPS: '10.1.2.3',
      SERVICE_ACCOUNT: 'reviews',
      LABELS: { app: 'reviews', version: 'v2' },
      MESH_ID: 'cluster.local',
      CLUSTER_ID: 'Kubernetes',
      APP_PORTS: [8080, 9080],
    },
  });
  t.same(b['admin'], { address: { socket_address: { address: '127.0.0.1', port_value: 15000 } } });
  t.same(b['dynamic_resources'], {
    ads_config: { api_type: 'GRPC', transport_api_version: 'V3', set_node_on_first_message_only: true, grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
    cds_config: { ads: {}, resource_api_version: 'V3' },
    lds_config: { ads: {}, resource_api_version: 'V3' },
  });
  const xds = (b['static_resources'].clusters as J[]).find((c) => c['name'] === 'xds-grpc')!;
  t.same(xds['load_assignment'].endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: 'tandem-xds.tandem-system.svc', port_value: 15010 });
  t.equal(xds['type'], 'STRICT_DNS', 'the xDS service is found by DNS');
  t.same(Object.keys(xds['typed_extension_protocol_options']), ['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'], 'gRPC needs HTTP/2 upstream');
});

t.test('static listeners: 15021 readiness, 15090 stats, 15020 merged stats and app probes (hand-checked)', async (t) => {
  const b = renderBootstrap(webhookParams) as J;
  const listeners = b['static_resources'].listeners as J[];
  const byPort = new Map(listeners.map((l) => [l['address'].socket_address.port_value as number, l]));
  t.same([...byPort.keys()].sort(), [15020, 15021, 15090]);
  const hcmOf = (port: number): J => byPort.get(port)!['filter_chains'][0].filters[0].typed_config;
  const routesOf = (port: number): J[] => hcmOf(port)['route_config'].virtual_hosts[0].routes;
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
  t.same(routesOf(15021), [{ match: { path: '/healthz/ready' }, route: { cluster: 'tandem-admin', prefix_rewrite: '/ready' } }], 'readiness is Envoy admin /ready');
  t.same(routesOf(15090), [{ match: { path: '/stats/prometheus' }, route: { cluster: 'tandem-admin' } }], '15090 stays Envoy-only');
  t.same(hcmOf(15021)['http_filters'], [router]);
  t.same(hcmOf(15090)['http_filters'], [router]);
  const lua = (x: J): J => ({ filter_metadata: { 'envoy.filters.http.lua': { tandem: x } } });
  t.same(routesOf(15020), [
    {
      match: { path: '/stats/prometheus' },
      route: { cluster: 'tandem-admin' },
      metadata: lua({
        kind: 'metrics',
        timeout_ms: 5000,
        targets: [
          { cluster: 'tandem-admin', path: '/stats/prometheus', authority: '127.0.0.1:15000' },
          { cluster: 'tandem-app-metrics|9080', path: '/metrics', authority: '127.0.0.1:9080' },
        ],
      }),
    },
    {
      name: '/app-health/cart/livez',
      match: { path: '/app-health/cart/livez' },
      direct_response: { status: 503 },
      // 00 0000000b | 0a 09 "shop.Cart"
      metadata: lua({ kind: 'grpc', cluster: 'tandem-app-probe|grpc|9090', authority: '127.0.0.1:9090', request: '000000000b0a0973686f702e43617274', timeout_ms: 2000 }),
    },
    {
      name: '/app-health/cart/readyz',
      match: { path: '/app-health/cart/readyz' },
      direct_response: { status: 503 },
      metadata: lua({ kind: 'grpc', cluster: 'tandem-app-probe|grpc|9090', authority: '127.0.0.1:9090', request: '0000000000', timeout_ms: 1000 }),
    },
    {
      name: '/app-health/reviews/livez',
      match: { path: '/app-health/reviews/livez' },
      route: { cluster: 'tandem-app-probe|http|9080', prefix_rewrite: '/healthz', timeout: '3s' },
      request_headers_to_add: [{ header: { key: 'X-Probe', value: 'live' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    },
    {
      name: '/app-health/reviews/readyz',
      match: { path: '/app-health/reviews/readyz' },
      route: { cluster: 'tandem-app-probe|https|8443', prefix_rewrite: '/ready', host_rewrite_literal: 'reviews.local' },
    },
    { name: '/app-health/reviews/startupz', match: { path: '/app-health/reviews/startupz' }, direct_response: { status: 503 } },
  ], 'httpGet routed, grpc via Lua, tcpSocket via the health-check filter (503 if nothing answers); named ports and other hosts skipped');
  t.same(hcmOf(15020)['http_filters'], [
    {
      name: 'tandem.tcp-probe/app-health/reviews/startupz',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck',
        pass_through_mode: false,
        headers: [{ name: ':path', string_match: { exact: '/app-health/reviews/startupz' } }],
        cluster_min_healthy_percentages: { 'tandem-app-probe|tcp|9080': { value: 100 } },
      },
    },
    { name: 'envoy.filters.http.lua', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua', default_source_code: { inline_string: STATUS_LUA } } },
    router,
  ], 'health-check filters answer their paths first, then Lua, then the router');

  const clusters = b['static_resources'].clusters as J[];
  t.same(clusters.map((c) => c['name']), [
    'xds-grpc',
    'tandem-admin',
    'tandem-app-probe|grpc|9090',
    'tandem-app-probe|http|9080',
    'tandem-app-probe|https|8443',
    'tandem-app-probe|tcp|9080',
    'tandem-app-metrics|9080',
  ]);
  const byName = new Map(clusters.map((c) => [c['name'] as string, c]));
  const local = (port: number): J => ({ endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] });
  t.same(byName.get('tandem-admin')!['load_assignment'], { cluster_name: 'tandem-admin', ...local(15000) });
  t.same(byName.get('tandem-app-probe|http|9080'), { name: 'tandem-app-probe|http|9080', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'tandem-app-probe|http|9080', ...local(9080) } });
  t.equal(byName.get('tandem-app-probe|https|8443')!['transport_socket'].name, 'envoy.transport_sockets.tls', 'HTTPS probes use TLS upstream');
  t.same(byName.get('tandem-app-probe|grpc|9090'), {
    name: 'tandem-app-probe|grpc|9090',
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: 'tandem-app-probe|grpc|9090', ...local(9090) },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  }, 'gRPC probes speak HTTP/2 to the app');
  t.same(byName.get('tandem-app-probe|tcp|9080'), {
    name: 'tandem-app-probe|tcp|9080',
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: 'tandem-app-probe|tcp|9080', ...local(9080) },
    health_checks: [{ timeout: '1s', interval: '2s', no_traffic_interval: '2s', unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }],
  }, 'tcpSocket probes: a connect-only active health check every 2 s');
  t.same(byName.get('tandem-app-metrics|9080'), { name: 'tandem-app-metrics|9080', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'tandem-app-metrics|9080', ...local(9080) } });
});

t.test('without app metrics or grpc/tcp probes the status port is as before: no Lua, no health-check filter', async (t) => {
  const b = renderBootstrap({ ...webhookParams, prometheusScrape: undefined, appProbes: { '/app-health/a/livez': { httpGet: { port: 80 } } } }) as J;
  const hcm = (b['static_resources'].listeners as J[])[2]!['filter_chains'][0].filters[0].typed_config;
  t.same(hcm.http_filters.map((f: J) => f['name']), ['envoy.filters.http.router']);
  t.same(hcm.route_config.virtual_hosts[0].routes[0], { match: { path: '/stats/prometheus' }, route: { cluster: 'tandem-admin' } });
  t.same(checkProtoJson(BOOTSTRAP, b), []);
  const grpcOnly = renderBootstrap({ ...webhookParams, prometheusScrape: undefined, appProbes: { '/app-health/a/livez': { grpc: { port: 50051 } } } }) as J;
  const names = (grpcOnly['static_resources'].listeners as J[])[2]!['filter_chains'][0].filters[0].typed_config.http_filters.map((f: J) => f['name']);
  t.same(names, ['envoy.filters.http.lua', 'envoy.filters.http.router'], 'a gRPC probe alone brings the Lua filter');
  t.same(checkProtoJson(BOOTSTRAP, grpcOnly), []);
});

t.test('tcpSocket probes sharing a port share one cluster with the strictest timeout', async (t) => {
  const b = renderBootstrap({
    ...webhookParams,
    prometheusScrape: undefined,
    appProbes: {
      '/app-health/a/livez': { tcpSocket: { port: 5432 }, timeoutSeconds: 5 },
      '/app-health/a/readyz': { tcpSocket: { port: '5432' }, timeoutSeconds: 2 },
    },
  }) as J;
  const tcp = (b['static_resources'].clusters as J[]).filter((c) => String(c['name']).startsWith('tandem-app-probe|tcp|'));
  t.same(tcp.map((c) => c['name']), ['tandem-app-probe|tcp|5432']);
  t.equal(tcp[0]!['health_checks'][0].timeout, '2s');
  const filters = (b['static_resources'].listeners as J[])[2]!['filter_chains'][0].filters[0].typed_config.http_filters as J[];
  t.same(filters.map((f) => f['typed_config'].headers?.[0]?.string_match?.exact), ['/app-health/a/livez', '/app-health/a/readyz', undefined]);
  t.same(checkProtoJson(BOOTSTRAP, b), []);
});

t.test('metrics merge: targets from ISTIO_PROMETHEUS_ANNOTATIONS', async (t) => {
  t.same(parsePrometheusScrape(undefined), []);
  t.same(parsePrometheusScrape({ scrape: 'true', port: '8080', path: '' }), [{ port: 8080, path: '/metrics' }], 'Prometheus default path');
  t.same(parsePrometheusScrape({ scrape: '', port: 9102, path: 'stats' }), [{ port: 9102, path: '/stats' }]);
  t.same(parsePrometheusScrape({ scrape: 'true', port: '', path: '/m' }), [], 'no port: nothing to merge (Prometheus would scrape every port)');
  t.same(parsePrometheusScrape({ scrape: 'true', port: 'http-metrics' }), [], 'named port');
  t.same(parsePrometheusScrape({ scrape: 'false', port: '8080' }), []);
  t.same(
    parsePrometheusScrape({ scrape: 'true', port: '8080', path: '/a', targets: [{ port: '8080', path: '/a' }, { port: '9090' }, { port: '8080', path: '/a' }, { port: '0' }] }),
    [{ port: 8080, path: '/a' }, { port: 9090, path: '/metrics' }],
    'targets win, deduplicated, invalid ones dropped',
  );
  const b = renderBootstrap({ ...webhookParams, appProbes: undefined, prometheusScrape: { scrape: 'true', port: '8080', path: '/a', targets: [{ port: '8080', path: '/a' }, { port: '9090', path: '/b?x=1' }] } }) as J;
  const route = (b['static_resources'].listeners as J[])[2]!['filter_chains'][0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0];
  t.same(route.metadata.filter_metadata['envoy.filters.http.lua'].tandem.targets, [
    { cluster: 'tandem-admin', path: '/stats/prometheus', authority: '127.0.0.1:15000' },
    { cluster: 'tandem-app-metrics|8080', path: '/a', authority: '127.0.0.1:8080' },
    { cluster: 'tandem-app-metrics|9090', path: '/b?x=1', authority: '127.0.0.1:9090' },
  ]);
  t.same((b['static_resources'].clusters as J[]).map((c) => c['name']).slice(2), ['tandem-app-metrics|8080', 'tandem-app-metrics|9090']);
  t.same(checkProtoJson(BOOTSTRAP, b), []);
});

t.test('gRPC health request frames (hand-encoded)', async (t) => {
  t.equal(grpcHealthCheckFrame('').toString('hex'), '0000000000', 'empty HealthCheckRequest');
  t.equal(grpcHealthCheckFrame('a').toString('hex'), '00000000030a0161');
  const long = 'x'.repeat(200); // length 200 = varint c8 01; message 1 + 2 + 200 = 203 = 0xcb bytes
  t.equal(grpcHealthCheckFrame(long).toString('hex'), '00000000cb0ac801' + '78'.repeat(200));
  t.equal(grpcHealthCheckFrame('é').toString('hex'), '00000000040a02c3a9', 'UTF-8 bytes counted');
});

t.test('the Lua script: the calls and checks it relies on', async (t) => {
  t.match(STATUS_LUA, /function envoy_on_request\(h\)/);
  t.match(STATUS_LUA, /h:metadata\(\):get\("tandem"\)/, 'reads the route metadata key the bootstrap writes');
  t.match(STATUS_LUA, /h:httpCall\(t\.cluster, \{/, 'metrics: httpCall per target');
  t.match(STATUS_LUA, /\[":path"\] = "\/grpc\.health\.v1\.Health\/Check"/);
  t.match(STATUS_LUA, /\["content-type"\] = "application\/grpc", \["te"\] = "trailers"/);
  t.match(STATUS_LUA, /string\.char\(0, 0, 0, 0, 2, 8, 1\)/, 'SERVING = prefix + HealthCheckResponse{status: 1}');
  t.notMatch(STATUS_LUA, /`/, 'no backquote: the script is a String.raw literal');
  t.notMatch(STATUS_LUA, /\/\/|~=\s*nil\s*and\s*#|goto|<<|>>/, 'only syntax LuaJIT shares with Lua 5.3 (no // division, goto, bit operators)');
});

t.test('probe and address parsing', async (t) => {
  t.equal(parseAppProbe('/not-app-health/x/livez', { httpGet: { port: 1 } }), undefined);
  t.equal(parseAppProbe('/app-health/x/livez', { httpGet: { port: 0 } }), undefined);
  t.equal(parseAppProbe('/app-health/x/livez', null), undefined);
  t.same(parseAppProbe('/app-health/x/readyz', { httpGet: { port: 80 } }), { kind: 'http', key: '/app-health/x/readyz', port: 80, path: '/', https: false, headers: [] });
  t.same(parseAppProbe('/app-health/x/livez', { grpc: { port: 9090 }, timeoutSeconds: 4 }), { kind: 'grpc', key: '/app-health/x/livez', port: 9090, service: '', timeoutSeconds: 4 });
  t.same(parseAppProbe('/app-health/x/livez', { grpc: { port: '9090', service: 'a.B' } }), { kind: 'grpc', key: '/app-health/x/livez', port: 9090, service: 'a.B' });
  t.equal(parseAppProbe('/app-health/x/livez', { grpc: { port: 'grpc' } }), undefined, 'named gRPC port');
  t.equal(parseAppProbe('/app-health/x/livez', { grpc: { port: 9090, service: 7 } }), undefined);
  t.same(parseAppProbe('/app-health/x/startupz', { tcpSocket: { port: 5432 } }), { kind: 'tcp', key: '/app-health/x/startupz', port: 5432 });
  t.equal(parseAppProbe('/app-health/x/startupz', { tcpSocket: { port: 5432, host: 'db' } }), undefined, 'tcpSocket of another host');
  t.equal(parseAppProbe('/app-health/x/startupz', { exec: { command: ['true'] } }), undefined);
  t.equal(parseAppProbe('/app-lifecycle/x/prestopz', { httpGet: { port: 80 } }), undefined, 'lifecycle hooks are not served');
  t.same(parseHostPort('[fd00::1]:15010'), { host: 'fd00::1', port: 15010 });
  t.throws(() => parseHostPort('tandem-xds'), UserError);
  t.throws(() => renderBootstrap({ ...webhookParams, xdsAddress: 'x:99999' }), /xDS address must be HOST:PORT/);
});

t.test('bootstraps for many identities all decode strictly', async (t) => {
  for (const [ns, ip, xds] of [
    ['default', '10.0.0.1', 'istiod.istio-system.svc:15010'],
    ['a-b', 'fd00::5', '[fd00::1]:15010'],
    ['x', '$(INSTANCE_IP)', '127.0.0.1:1'],
    ['$(POD_NAMESPACE)', '$(INSTANCE_IP)', 'tandem-xds.tandem-system.svc:15010'],
  ] as const) {
    const b = renderBootstrap({ podName: 'p', podNamespace: ns, podIp: ip, serviceAccount: 'default', xdsAddress: xds, clusterDomain: 'corp.example' });
    t.same(checkProtoJson(BOOTSTRAP, b), [], `${ns} ${ip} ${xds}`);
  }
});

t.test('flags default to the downward-API environment', async (t) => {
  const env = { POD_NAME: 'p1', POD_NAMESPACE: 'ns1', INSTANCE_IP: '10.0.0.7', SERVICE_ACCOUNT: 'sa1' };
  t.same(bootstrapParams({}, env), { podName: 'p1', podNamespace: 'ns1', podIp: '10.0.0.7', serviceAccount: 'sa1', xdsAddress: 'tandem-xds.tandem-system.svc:15010' });
  t.same(bootstrapParams({ podName: 'flag', xdsAddress: 'h:1', appPorts: [80] }, env), {
    podName: 'flag', podNamespace: 'ns1', podIp: '10.0.0.7', serviceAccount: 'sa1', xdsAddress: 'h:1', appPorts: [80],
  });
  t.throws(() => bootstrapParams({}, {}), { name: 'UserError', message: /--pod-name is required \(or set \$POD_NAME\)/ });
});

t.test('tandem bootstrap -o FILE writes the bootstrap; missing identity exits 1', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-boot-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'envoy.json');
  const code = await main(['node', 'tandem', 'bootstrap', '--pod-name', 'p', '--pod-namespace', 'ns', '--pod-ip', '10.0.0.2', '--service-account', 'sa', '--xds-address', '10.96.0.10:15010', '--app-ports', '8080,9090', '-o', out]);
  t.equal(code, 0);
  const b = JSON.parse(await readFile(out, 'utf8')) as J;
  t.equal(b['node'].id, 'sidecar~10.0.0.2~p.ns~ns.svc.cluster.local');
  t.same(b['node'].metadata.APP_PORTS, [8080, 9090]);
  t.same(checkProtoJson(BOOTSTRAP, b), []);
  const saved = { ...process.env };
  for (const k of ['POD_NAME', 'POD_NAMESPACE', 'INSTANCE_IP', 'SERVICE_ACCOUNT']) delete process.env[k];
  const errors: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write;
  let failed: number;
  try {
    failed = await main(['node', 'tandem', 'bootstrap', '-o', out]);
  } finally {
    process.stderr.write = write;
    Object.assign(process.env, saved);
  }
  t.equal(failed, 1, 'user error exit code');
  t.match(errors.join(''), /--pod-name is required/);
});
