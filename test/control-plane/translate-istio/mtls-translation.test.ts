/**
 * Mutual TLS in the Istio translation: the sidecar's inbound listener per PeerAuthentication mode,
 * proxyless server listeners, auto mTLS and ISTIO_MUTUAL clusters. Expected resources are written by
 * hand in mtls-testdata/ (from Envoy's API reference and Istio's sidecar/proxyless generators) and
 * compared as data; every resource also passes the strict Envoy-proto checker.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { ConfigObject } from '../../../config/model.js';
import { meshOptions, type MeshOptions } from '../../../control-plane/model/options.js';
import { buildMeshSnapshot, type MeshSnapshot } from '../../../control-plane/model/snapshot.js';
import type { RegistrySnapshot } from '../../../control-plane/registry/types.js';
import { translateInbound, translateProxyless, translateSidecar } from '../../../control-plane/xds/translate/istio/translate.js';
import type { Json } from '../../../control-plane/xds/translate/istio/envoy.js';
import { matchJsonGolden } from '../../golden.js';
import { check } from './check.js';

const DIR = fileURLToPath(new URL('./mtls-testdata', import.meta.url));
const TLS_MODE = 'security.istio.io/tlsMode';

/** reviews (HTTP 9080) has sidecars everywhere; ratings (gRPC 7070) on one; db (TCP 5432) on none. */
const registry: RegistrySnapshot = {
  services: [
    {
      name: 'reviews',
      namespace: 'shop',
      addresses: [],
      ports: [{ name: 'http', port: 9080, protocol: 'HTTP', endpoints: [
        { address: '10.0.0.1', port: 9080, labels: { app: 'reviews', [TLS_MODE]: 'istio' }, serviceAccount: 'reviews' },
        { address: '10.0.0.2', port: 9080, labels: { app: 'reviews', [TLS_MODE]: 'istio' }, serviceAccount: 'reviews-v2' },
      ] }],
    },
    {
      name: 'ratings',
      namespace: 'shop',
      addresses: [],
      ports: [{ name: 'grpc', port: 7070, protocol: 'GRPC', endpoints: [
        { address: '10.0.0.5', port: 7070, labels: { app: 'ratings', [TLS_MODE]: 'istio' }, serviceAccount: 'ratings' },
        { address: '10.0.0.6', port: 7070, labels: { app: 'ratings' }, serviceAccount: 'ratings' },
      ] }],
    },
    {
      name: 'db',
      namespace: 'data',
      addresses: [],
      ports: [{ name: 'tcp', port: 5432, protocol: 'TCP', endpoints: [{ address: '10.0.1.1', port: 5432, labels: { app: 'db' } }] }],
    },
  ],
};

function pa(namespace: string, name: string, spec: Json): ConfigObject {
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace }, spec } as unknown as ConfigObject;
}

function snapshot(configs: ConfigObject[], options: Partial<MeshOptions> = {}): MeshSnapshot {
  return buildMeshSnapshot({ registry, configs, options: meshOptions(options) });
}

/** The reviews pod 10.0.0.1: app port 9080 (HTTP, from the registry) and 15090-free extra port 8081 (TCP: no service names it). */
const reviewsPod = { namespace: 'shop', labels: { app: 'reviews', [TLS_MODE]: 'istio' }, appPorts: [9080, 8081], ips: ['10.0.0.1'], proxyless: false };

function strictIssues(kind: 'listeners' | 'clusters' | 'endpoints', list: Json[]): string[] {
  return list.flatMap((r) => check(kind, r).map((i) => `${String(r['name'] ?? r['cluster_name'])}: ${i.path}: ${i.message}`));
}

function chainsOf(listener: Json): { name: string; match: unknown; mtls: boolean }[] {
  return (listener['filter_chains'] as Json[]).map((c) => ({ name: String(c['name']), match: c['filter_chain_match'], mtls: c['transport_socket'] !== undefined }));
}

t.test('STRICT (mesh-wide): the whole virtualInbound listener, by hand', async (t) => {
  const [inbound] = translateInbound(snapshot([pa('istio-system', 'default', { mtls: { mode: 'STRICT' } })]), reviewsPod);
  matchJsonGolden(t, `${DIR}/inbound-strict.json`, inbound);
  t.same(strictIssues('listeners', [inbound!]), []);
});

t.test('PERMISSIVE (no policy): mTLS for Istio ALPNs, plain text beside it; foreign TLS passed through on TCP ports only', async (t) => {
  const [inbound] = translateInbound(snapshot([]), reviewsPod);
  const alpns = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
  t.same(chainsOf(inbound!), [
    { name: 'inbound|8081|mtls', match: { destination_port: 8081, transport_protocol: 'tls', application_protocols: alpns }, mtls: true },
    { name: 'inbound|8081|tls', match: { destination_port: 8081, transport_protocol: 'tls' }, mtls: false },
    { name: 'inbound|8081|plaintext', match: { destination_port: 8081, transport_protocol: 'raw_buffer' }, mtls: false },
    { name: 'inbound|9080|mtls', match: { destination_port: 9080, transport_protocol: 'tls', application_protocols: alpns }, mtls: true },
    { name: 'inbound|9080|plaintext', match: { destination_port: 9080, transport_protocol: 'raw_buffer' }, mtls: false },
    { name: 'virtualInbound|mtls', match: { transport_protocol: 'tls', application_protocols: alpns }, mtls: true },
    { name: 'virtualInbound|tls', match: { transport_protocol: 'tls' }, mtls: false },
    { name: 'virtualInbound|plaintext', match: { transport_protocol: 'raw_buffer' }, mtls: false },
  ]);
  t.same(strictIssues('listeners', [inbound!]), []);
});

t.test('DISABLE, and portLevelMtls overriding it per port', async (t) => {
  const off = pa('shop', 'reviews', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'DISABLE' }, portLevelMtls: { '9080': { mode: 'STRICT' } } });
  const [inbound] = translateInbound(snapshot([off]), reviewsPod);
  t.same(chainsOf(inbound!), [
    { name: 'inbound|8081|plaintext', match: { destination_port: 8081 }, mtls: false },
    { name: 'inbound|9080|mtls', match: { destination_port: 9080, transport_protocol: 'tls' }, mtls: true },
    { name: 'virtualInbound|plaintext', match: {}, mtls: false },
  ]);
  t.notOk('default_filter_chain' in inbound!, 'no default chain: plain text to the STRICT port matches nothing and is closed');
  t.same(strictIssues('listeners', [inbound!]), []);
});

t.test('proxyless servers: one listener per address and port, Istio\'s proxyless PERMISSIVE rule', async (t) => {
  const grpcPod = (labels: Record<string, string>): Parameters<typeof translateInbound>[1] => ({ namespace: 'shop', labels, appPorts: [], ips: ['10.0.0.5'], proxyless: true });
  const labelled = translateInbound(snapshot([]), grpcPod({ app: 'ratings', [TLS_MODE]: 'istio' }));
  matchJsonGolden(t, `${DIR}/proxyless-server-labelled-permissive.json`, labelled);
  t.same(strictIssues('listeners', labelled), []);
  const plain = translateInbound(snapshot([]), grpcPod({ app: 'ratings' }));
  t.same(plain.map((l) => [l['name'], (l['filter_chains'] as Json[])[0]!['name'], 'transport_socket' in (l['filter_chains'] as Json[])[0]!]), [
    ['xds.istio.io/grpc/lds/inbound/0.0.0.0:7070', 'inbound-plaintext', false],
    ['xds.istio.io/grpc/lds/inbound/10.0.0.5:7070', 'inbound-plaintext', false],
  ], 'PERMISSIVE without the label: plain text');
  const strict = translateInbound(snapshot([pa('shop', 'default', { mtls: { mode: 'STRICT' } })]), grpcPod({ app: 'ratings' }));
  t.ok(strict.every((l) => 'transport_socket' in (l['filter_chains'] as Json[])[0]!), 'STRICT: mTLS whatever the labels');
  const disabled = translateInbound(snapshot([pa('shop', 'default', { mtls: { mode: 'DISABLE' } })]), grpcPod({ app: 'ratings', [TLS_MODE]: 'istio' }));
  t.ok(disabled.every((l) => !('transport_socket' in (l['filter_chains'] as Json[])[0]!)), 'DISABLE: plain text whatever the labels');
});

function cluster(list: Json[], name: string): Json | undefined {
  return list.find((c) => c['name'] === name);
}

t.test('auto mTLS for a sidecar: per-endpoint transport socket matches, the endpoints\' identities checked', async (t) => {
  const r = translateSidecar(snapshot([]), { namespace: 'shop', labels: { app: 'productpage' } });
  matchJsonGolden(t, `${DIR}/auto-mtls-sidecar.json`, {
    cluster: cluster(r.clusters, 'outbound|9080||reviews.shop.svc.cluster.local'),
    endpoints: r.endpoints.find((e) => e['cluster_name'] === 'outbound|7070||ratings.shop.svc.cluster.local'),
  });
  const ratings = cluster(r.clusters, 'outbound|7070||ratings.shop.svc.cluster.local')!;
  t.ok(ratings['transport_socket_matches'], 'one labelled endpoint is enough for a sidecar');
  t.notOk(cluster(r.clusters, 'outbound|5432||db.data.svc.cluster.local')!['transport_socket_matches'], 'no labelled endpoint: plain text');
  t.same(strictIssues('clusters', r.clusters), []);
  t.same(strictIssues('endpoints', r.endpoints), []);
});

t.test('auto mTLS is off when MeshConfig disables it, when the destination namespace is DISABLE, and when a DestinationRule sets TLS', async (t) => {
  const name = 'outbound|9080||reviews.shop.svc.cluster.local';
  const socketOf = (s: MeshSnapshot): unknown => {
    const c = cluster(translateSidecar(s, { namespace: 'shop', labels: {} }).clusters, name)!;
    return c['transport_socket_matches'] ?? c['transport_socket'];
  };
  t.notOk(socketOf(snapshot([], { enableAutoMtls: false })), 'enableAutoMtls: false');
  t.notOk(socketOf(snapshot([pa('shop', 'default', { mtls: { mode: 'DISABLE' } })])), 'destination namespace DISABLE');
  const dr = (tls: Json): ConfigObject => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'shop' }, spec: { host: 'reviews', trafficPolicy: { tls } } }) as unknown as ConfigObject;
  t.notOk(socketOf(snapshot([dr({ mode: 'DISABLE' })])), 'DestinationRule DISABLE wins over auto mTLS');
  const istioMutual = socketOf(snapshot([dr({ mode: 'ISTIO_MUTUAL' })])) as Json;
  matchJsonGolden(t, `${DIR}/istio-mutual-sidecar.json`, istioMutual);
  const withSans = socketOf(snapshot([dr({ mode: 'ISTIO_MUTUAL', subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/special'] })])) as Json;
  t.same(
    ((withSans['typed_config'] as Json)['common_tls_context'] as Json)['combined_validation_context'],
    { default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/shop/sa/special' } }] }, validation_context_sds_secret_config: { name: 'ROOTCA' } },
    'the DestinationRule\'s subjectAltNames replace the endpoints\' identities',
  );
});

t.test('auto mTLS for proxyless clients: only when every endpoint is labelled; certificate providers, the endpoints\' identities', async (t) => {
  const r = translateProxyless(snapshot([]), { namespace: 'shop', labels: {} });
  const reviews = cluster(r.clusters, 'outbound|9080||reviews.shop.svc.cluster.local')!;
  t.same(reviews['transport_socket'], {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: 'default', certificate_name: 'default' },
        validation_context: {
          ca_certificate_provider_instance: { instance_name: 'default', certificate_name: 'ROOTCA' },
          match_typed_subject_alt_names: [
            { san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/shop/sa/reviews' } },
            { san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/shop/sa/reviews-v2' } },
          ],
        },
      },
    },
  });
  t.notOk(reviews['transport_socket_matches'], 'gRPC reads no transport socket matches');
  t.notOk(cluster(r.clusters, 'outbound|7070||ratings.shop.svc.cluster.local')!['transport_socket'], 'one endpoint without a sidecar: plain text (gRPC cannot choose per endpoint)');
  t.same(strictIssues('clusters', r.clusters), []);
});

t.test('the secrets contract: the names the translation references are the bootstrap\'s static secrets and provider', async (t) => {
  const secrets = await import('../../../control-plane/xds/translate/istio/secrets.js');
  const { credentialFiles, staticSecrets } = await import('../../../bootstrap/workload-credentials.js');
  t.same([secrets.WORKLOAD_SECRET, secrets.ROOT_SECRET, secrets.GRPC_CERT_PROVIDER_INSTANCE], ['default', 'ROOTCA', 'default'], "Istio's names");
  t.same(staticSecrets().map((s) => s['name']), [secrets.WORKLOAD_SECRET, secrets.ROOT_SECRET], 'the secrets the sidecar bootstrap defines are the ones the translation names');
  t.same(credentialFiles(), {
    dir: '/var/run/secrets/workload-spiffe-credentials',
    certificateChain: '/var/run/secrets/workload-spiffe-credentials/cert-chain.pem',
    privateKey: '/var/run/secrets/workload-spiffe-credentials/key.pem',
    rootCert: '/var/run/secrets/workload-spiffe-credentials/root-cert.pem',
  }, "Istio's file-mounted credentials layout");
  // no sds_config anywhere: sidecars read the two secrets from their bootstrap's static secrets
  const text = JSON.stringify(translateInbound(snapshot([pa('istio-system', 'default', { mtls: { mode: 'STRICT' } })]), reviewsPod)) + JSON.stringify(translateSidecar(snapshot([]), { namespace: 'shop', labels: {} }).clusters);
  t.notMatch(text, /"name":"(default|ROOTCA)","sds_config"/);
  t.ok(readFileSync(fileURLToPath(new URL('../../../control-plane/xds/translate/istio/secrets.ts', import.meta.url)), 'utf8').includes('watched_directory'), 'the module documents how the bootstrap must define them');
});
