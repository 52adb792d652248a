/**
 * AuthorizationPolicy enforced by a real xDS-enabled gRPC server (@grpc/grpc-js-xds `XdsServer`, its
 * RBAC filter enabled with GRPC_XDS_EXPERIMENTAL_RBAC=true) called by a real gRPC client over TCP.
 *
 * Declared emulation: the server listener `xds.istio.io/grpc/lds/inbound/127.0.0.1:<port>` is built
 * here by hand (an HCM with an inline route and the router), around exactly what
 * `authorizationFilters` returns, and served by a minimal state-of-the-world ADS server in this file:
 * tandem's inbound listener builder is another component and not wired to authorization yet. The
 * listener bytes are encoded through the strict Envoy-proto checker. Plaintext only: identities
 * (principals) need the mTLS listener, so this test decides on paths, methods, headers, ports and
 * the DENY-before-ALLOW order.
 */
import * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:net';
import t from 'tap';
import type { ConfigObject } from '../../../config/model.js';
import { meshOptions } from '../../../control-plane/model/options.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import { decodeDiscoveryRequest } from '../../../control-plane/proto/decode.js';
import { encodeProtoJson } from '../../../control-plane/proto/json.js';
import { HCM_TYPE, ROUTER_TYPE, T, type Json } from '../../../control-plane/xds/translate/istio/envoy.js';
import { authorizationFilters } from '../../../control-plane/xds/translate/istio/authz/index.js';
import { addEcho, echoClient, eventually, say } from '../helpers.js';

const LISTENER_TYPE = `${T}envoy.config.listener.v3.Listener`;
const SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

function ap(name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): ConfigObject {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { namespace: 'demo', name, ...(annotations ? { annotations } : {}) }, spec } as ConfigObject;
}

/** The proxyless server listener around the RBAC filters of `policies`, as the inbound builder will make it. */
function serverListener(name: string, port: number, policies: ConfigObject[]): Json {
  const snapshot = buildMeshSnapshot({ registry: { services: [] }, configs: policies, options: meshOptions() });
  const rbac = authorizationFilters(snapshot, { namespace: 'demo', labels: { app: 'echo' } }, { protocol: 'http', proxyless: true, port });
  const hcm = {
    '@type': HCM_TYPE,
    stat_prefix: 'inbound',
    route_config: { name: 'inbound', virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '' }, non_forwarding_action: {} }] }] },
    http_filters: [...rbac, { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
  };
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
  };
}

/** Minimal SotW ADS for one listener: answers LDS subscriptions, pushes `set` to open streams, records NACKs. */
function tinyAds(): { server: grpc.Server; set(listener: Json): void; nacks: Json[]; acked(): string | undefined } {
  let listener: Json | undefined;
  let version = 0;
  let ackedVersion: string | undefined;
  const nacks: Json[] = [];
  const streams = new Set<grpc.ServerDuplexStream<Json, Json>>();
  const respond = (call: grpc.ServerDuplexStream<Json, Json>): void => {
    if (!listener) return;
    call.write({ version_info: String(version), nonce: String(version), type_url: LISTENER_TYPE, resources: [{ '@type': LISTENER_TYPE, ...listener }] });
  };
  const server = new grpc.Server();
  server.register(
    `/${SERVICE}/StreamAggregatedResources`,
    (call: grpc.ServerDuplexStream<Json, Json>) => {
      streams.add(call);
      call.on('data', (req: Json) => {
        if (req['type_url'] !== LISTENER_TYPE) return;
        if (req['error_detail']) nacks.push(req);
        else if (req['response_nonce']) ackedVersion = String(req['version_info']);
        if (!req['response_nonce']) respond(call);
      });
      call.on('end', () => {
        streams.delete(call);
        call.end();
      });
      call.on('error', () => streams.delete(call));
    },
    (res: Json) => Buffer.from(encodeProtoJson('envoy.service.discovery.v3.DiscoveryResponse', res)),
    (b: Buffer) => decodeDiscoveryRequest(b),
    'bidi',
  );
  return {
    server,
    nacks,
    acked: () => ackedVersion,
    set(l: Json): void {
      listener = l;
      version++;
      for (const s of streams) respond(s);
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function outcome(client: ReturnType<typeof echoClient>): Promise<string> {
  try {
    await say(client, 'hi', 2000);
    return 'OK';
  } catch (e) {
    return grpc.status[(e as grpc.ServiceError).code] ?? String(e);
  }
}

t.test('proxyless gRPC server enforces the translated AuthorizationPolicies', async (t) => {
  process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();

  const ads = tinyAds();
  const adsPort = await new Promise<number>((resolve, reject) =>
    ads.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const port = await freePort();
  const name = `xds.istio.io/grpc/lds/inbound/127.0.0.1:${port}`;
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'sidecar~127.0.0.1~echo.demo~demo.svc.cluster.local', locality: {}, metadata: { GENERATOR: 'grpc' } },
    server_listener_resource_name_template: 'xds.istio.io/grpc/lds/inbound/%s',
  };
  const server = new xds.XdsServer({ 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap) } as grpc.ServerOptions);
  addEcho(server, 'echo');
  const client = echoClient(`127.0.0.1:${port}`);
  t.teardown(async () => {
    client.close();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
    await new Promise<void>((r) => ads.server.tryShutdown(() => r()));
  });

  // consecutive steps expect different outcomes, so that a step cannot pass on the previous listener
  const step = async (what: string, policies: ConfigObject[], expected: string): Promise<void> => {
    ads.set(serverListener(name, port, policies));
    const ok = await eventually(async () => (await outcome(client)) === expected, 15_000, 100);
    t.ok(ok, `${what}: ${expected} (last: ${await outcome(client)})`);
  };

  ads.set(serverListener(name, port, []));
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));

  const ECHO = '/tandem.test.Echo/Say';
  await step('no policy', [], 'OK');
  await step('ALLOW another method only', [ap('allow-other', { rules: [{ to: [{ operation: { paths: ['/tandem.test.Echo/Other'] } }] }] })], 'PERMISSION_DENIED');
  await step('ALLOW the Echo service by path prefix', [ap('allow-echo', { rules: [{ to: [{ operation: { paths: ['/tandem.test.Echo/*'] } }] }] })], 'OK');
  await step('DENY the method beats the ALLOW of its service', [
    ap('allow-echo', { rules: [{ to: [{ operation: { paths: ['/tandem.test.Echo/*'] } }] }] }),
    ap('deny-say', { action: 'DENY', rules: [{ to: [{ operation: { paths: [ECHO] } }] }] }),
  ], 'PERMISSION_DENIED');
  await step('DENY of another method does not', [
    ap('allow-echo', { rules: [{ to: [{ operation: { paths: ['/tandem.test.Echo/*'] } }] }] }),
    ap('deny-other', { action: 'DENY', rules: [{ to: [{ operation: { notPaths: ['/tandem.test.*'] } }] }] }),
  ], 'OK');
  await step('spec: {} denies all', [ap('allow-nothing', {})], 'PERMISSION_DENIED');
  await step('ALLOW by destination port and header', [
    ap('allow-port', { rules: [{ to: [{ operation: { ports: [String(port)], methods: ['POST'] } }], when: [{ key: 'request.headers[content-type]', values: ['application/grpc*'] }] }] }),
  ], 'OK');
  await step('ALLOW another port', [ap('allow-port', { rules: [{ to: [{ operation: { ports: ['1'] } }] }] })], 'PERMISSION_DENIED');
  await step('AUDIT and dry-run DENY are left out, not NACKed', [
    ap('audit', { action: 'AUDIT', rules: [{}] }),
    ap('dry-deny', { action: 'DENY', rules: [{}] }, { 'istio.io/dry-run': 'true' }),
  ], 'OK');
  // what grpc-js-xds cannot evaluate is ignored in a DENY rule: it refuses more, never less
  await step('DENY from another address fails closed (no address test reaches proxyless)', [
    ap('allow-all', { rules: [{}] }),
    ap('deny-far', { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['192.0.2.0/24'] } }], to: [{ operation: { paths: [ECHO] } }] }] }),
  ], 'PERMISSION_DENIED');
  await step('policies removed', [], 'OK');
  await step('DENY with an SNI condition: the condition is ignored', [
    ap('deny-post', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }], when: [{ key: 'connection.sni', values: ['x.example.com'] }] }] }),
  ], 'PERMISSION_DENIED');
  t.same(ads.nacks.map((n) => n['error_detail']), [], 'the server NACKed no listener');
  t.equal(ads.acked(), '13', 'the server ACKed the last listener');
});
