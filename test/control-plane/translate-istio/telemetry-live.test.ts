/**
 * Observability config edited live reaches a connected sidecar over real ADS: a mesh-config change
 * (the server's setMesh, as the `tandem-mesh` ConfigMap watcher calls it) turns access logs on; a
 * Telemetry object written to the watched directory (the real file store and validator) turns
 * tracing on, an edit of it re-sends the listener and nothing else, an invalid edit keeps the last
 * good one, and its deletion takes tracing away again.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Logger } from '../../../common/logger.js';
import { parseMeshConfig } from '../../../config/mesh/mesh-config.js';
import { openIstioConfig } from '../../../control-plane/istio-config.js';
import { meshOptionsFromMeshConfig } from '../../../control-plane/model/options.js';
import { StaticRegistry, type Service } from '../../../control-plane/registry/types.js';
import { registerXds } from '../../../control-plane/xds/server/register.js';
import { RawAds, sidecarNode, URL as TYPE, type J } from '../ads-client.js';

const services: Service[] = [
  { name: 'reviews', namespace: 'shop', addresses: [], ports: [{ name: 'http', port: 9080, protocol: 'HTTP', endpoints: [{ address: '10.0.0.1', port: 9080, labels: {} }] }] },
  { name: 'zipkin', namespace: 'istio-system', addresses: [], ports: [{ name: 'http', port: 9411, protocol: 'HTTP', endpoints: [{ address: '10.0.9.1', port: 9411, labels: {} }] }] },
];

const MESH = `rootNamespace: istio-system
accessLogFile: /dev/stdout
extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
`;

const TELEMETRY = (pct: number): string => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: tracing, namespace: shop}
spec:
  tracing: [{providers: [{name: zipkin}], randomSamplingPercentage: ${pct}}]
`;

function ack(ads: RawAds, r: J): void {
  const names = r['type_url'] === TYPE.route ? ['9080', '9411'] : [];
  ads.send({ type_url: r['type_url'], version_info: r['version_info'], response_nonce: r['nonce'], resource_names: names });
}

/** Every response until 400 ms of quiet, each ACKed. */
async function drain(ads: RawAds): Promise<J[]> {
  const out: J[] = [await ads.next(5000)];
  for (;;) {
    ack(ads, out.at(-1)!);
    try {
      out.push(await ads.next(400));
    } catch {
      return out;
    }
  }
}

/** The HCM of port 9080 in the last listener response. */
function hcm9080(responses: J[]): J {
  const lds = responses.filter((r) => r['type_url'] === TYPE.listener).at(-1);
  if (!lds) throw new Error('no listener response');
  const listener = (lds['resources'] as J[]).find((l) => l['name'] === 'virtualOutbound')!;
  const chain = (listener['filter_chains'] as J[]).find((c) => c['filter_chain_match']?.['destination_port'] === 9080)!;
  return chain['filters'][0]['typed_config'] as J;
}

t.test('mesh-config and Telemetry edits reach a connected sidecar', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-telemetry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const errors: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn() {}, error: (o, msg) => errors.push(`${msg ?? ''} ${JSON.stringify(o)}`) };
  const istio = await openIstioConfig({ spec: `file:${dir}`, log });
  t.teardown(() => istio.close());
  const server = new grpc.Server();
  const xds = registerXds(server, { registry: new StaticRegistry({ services }), config: istio.store!, mesh: istio.mesh, ready: istio.synced, log, debounce: { quietMs: 20, maxDelayMs: 200 }, checkConsistency: true });
  t.teardown(() => xds.close());
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  await xds.ready;

  const ads = new RawAds(port);
  t.teardown(() => ads.close());
  ads.send({ node: sidecarNode('shop'), type_url: TYPE.cluster, resource_names: [] });
  ack(ads, await ads.next());
  ads.send({ type_url: TYPE.listener, resource_names: [] });
  const lds = await ads.next();
  ack(ads, lds);
  const first = hcm9080([lds]);
  t.equal(first['access_log'], undefined, 'default mesh config: no access log');
  t.equal(first['tracing'], undefined, 'and no tracing');

  xds.setMesh(meshOptionsFromMeshConfig(parseMeshConfig(MESH, 'mesh').mesh));
  const afterMesh = hcm9080(await drain(ads));
  t.same(
    (afterMesh['access_log'] as J[]).map((l) => [l['name'], l['typed_config']['path']]),
    [['envoy.access_loggers.file', '/dev/stdout']],
    'the mesh-config edit reached the proxy: accessLogFile on the HCM',
  );

  await writeFile(join(dir, 'telemetry.yaml'), TELEMETRY(50));
  const afterTelemetry = hcm9080(await drain(ads));
  t.equal(afterTelemetry['tracing']?.['provider']?.['typed_config']?.['collector_cluster'], 'outbound|9411||zipkin.istio-system.svc.cluster.local', 'the Telemetry reached the proxy: Zipkin tracing');
  t.equal(afterTelemetry['tracing']?.['random_sampling']?.['value'], 50, 'at its percentage');
  t.ok(afterTelemetry['access_log'], 'the mesh-config access log stays (the Telemetry says nothing about logging)');

  await writeFile(join(dir, 'telemetry.yaml'), TELEMETRY(5));
  const edit = await drain(ads);
  t.same(edit.map((r) => r['type_url']), [TYPE.listener], 'a Telemetry edit re-sends the listener only');
  t.equal(hcm9080(edit)['tracing']?.['random_sampling']?.['value'], 5, 'with the new percentage');

  await writeFile(join(dir, 'telemetry.yaml'), TELEMETRY(300));
  t.ok(await ads.quiet(600), 'an invalid Telemetry pushes nothing: the last good one stays in force');
  t.ok(errors.some((e) => e.includes('Telemetry')), 'and the refusal is logged naming the object');
  errors.length = 0;

  await unlink(join(dir, 'telemetry.yaml'));
  const deleted = hcm9080(await drain(ads));
  t.equal(deleted['tracing'], undefined, 'deleted: tracing gone');
  t.ok(deleted['access_log'], 'the access log stays');
  t.same(errors, [], 'the consistency assertion found nothing, and nothing else failed');
});
