import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { main } from '../../cli/main.js';
import { UserError } from '../../common/errors.js';
import { parseAppProbe, parseHostPort, renderBootstrap, type SidecarBootstrapParams } from '../../control-plane/bootstrap.js';
import { bootstrapParams } from '../../control-plane/cli.js';
import { checkProtoJson, encodeProtoJson } from '../../control-plane/proto/json.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

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
  },
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

t.test('static listeners: 15021 readiness, 15090 stats, 15020 stats and app probes (hand-checked)', async (t) => {
  const b = renderBootstrap(webhookParams) as J;
  const listeners = b['static_resources'].listeners as J[];
  const byPort = new Map(listeners.map((l) => [l['address'].socket_address.port_value as number, l]));
  t.same([...byPort.keys()].sort(), [15020, 15021, 15090]);
  const routesOf = (port: number): J[] => byPort.get(port)!['filter_chains'][0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
  t.same(routesOf(15021), [{ match: { path: '/healthz/ready' }, route: { cluster: 'tandem-admin', prefix_rewrite: '/ready' } }], 'readiness is Envoy admin /ready');
  t.same(routesOf(15090), [{ match: { path: '/stats/prometheus' }, route: { cluster: 'tandem-admin' } }]);
  t.same(routesOf(15020), [
    { match: { path: '/stats/prometheus' }, route: { cluster: 'tandem-admin' } },
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
  ], 'httpGet probes forwarded to the original port and path; tcpSocket and named ports skipped');
  const clusters = new Map((b['static_resources'].clusters as J[]).map((c) => [c['name'] as string, c]));
  t.same(clusters.get('tandem-admin')!['load_assignment'].endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '127.0.0.1', port_value: 15000 });
  t.same(clusters.get('tandem-app-probe|http|9080')!['load_assignment'].endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '127.0.0.1', port_value: 9080 });
  t.equal(clusters.get('tandem-app-probe|https|8443')!['transport_socket'].name, 'envoy.transport_sockets.tls', 'HTTPS probes use TLS upstream');
});

t.test('probe and address parsing', async (t) => {
  t.equal(parseAppProbe('/not-app-health/x/livez', { httpGet: { port: 1 } }), undefined);
  t.equal(parseAppProbe('/app-health/x/livez', { httpGet: { port: 0 } }), undefined);
  t.equal(parseAppProbe('/app-health/x/livez', null), undefined);
  t.same(parseAppProbe('/app-health/x/readyz', { httpGet: { port: 80 } }), { key: '/app-health/x/readyz', port: 80, path: '/', https: false, headers: [] });
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
