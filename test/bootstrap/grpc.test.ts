import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { validateBootstrapConfig } from '@grpc/grpc-js-xds/build/src/xds-bootstrap.js';
import { GRPC_SERVER_LISTENER_TEMPLATE, renderGrpcBootstrap, type GrpcBootstrapParams } from '../../bootstrap/grpc.js';
import { main } from '../../cli/main.js';
import { proxyFromNode } from '../../control-plane/xds/proxy.js';

/**
 * The proxyless gRPC bootstrap: hand-written expectation, then grpc-js-xds's own bootstrap
 * validation (the function its client runs on GRPC_XDS_BOOTSTRAP_CONFIG), then tandem's own
 * reading of the node (control-plane/xds/proxy.ts) must see a proxyless client.
 */
const params: GrpcBootstrapParams = {
  podName: 'echo-5f7c', podNamespace: 'demo', podIp: '10.1.2.3', serviceAccount: 'echo',
  xdsAddress: 'tandem-xds.tandem-system.svc:15010', labels: { app: 'echo', version: 'v1' },
};

t.test('hand-checked shape', async (t) => {
  t.same(renderGrpcBootstrap(params), {
    xds_servers: [{ server_uri: 'tandem-xds.tandem-system.svc:15010', channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: 'sidecar~10.1.2.3~echo-5f7c.demo~demo.svc.cluster.local',
      cluster: 'echo.demo',
      locality: {},
      metadata: {
        GENERATOR: 'grpc', NAME: 'echo-5f7c', NAMESPACE: 'demo', INSTANCE_IPS: '10.1.2.3', SERVICE_ACCOUNT: 'echo',
        LABELS: { app: 'echo', version: 'v1' }, MESH_ID: 'cluster.local', CLUSTER_ID: 'Kubernetes',
      },
    },
    certificate_providers: {
      default: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: '/var/run/secrets/workload-spiffe-credentials/cert-chain.pem',
          private_key_file: '/var/run/secrets/workload-spiffe-credentials/key.pem',
          ca_certificate_file: '/var/run/secrets/workload-spiffe-credentials/root-cert.pem',
          refresh_interval: '60s',
        },
      },
    },
    server_listener_resource_name_template: 'xds.istio.io/grpc/lds/inbound/%s',
  });
});

t.test("accepted by grpc-js-xds's bootstrap validation", async (t) => {
  const info = validateBootstrapConfig(JSON.parse(JSON.stringify(renderGrpcBootstrap(params))));
  t.equal(info.xdsServers[0]?.server_uri, 'tandem-xds.tandem-system.svc:15010');
  t.equal(info.node.id, 'sidecar~10.1.2.3~echo-5f7c.demo~demo.svc.cluster.local');
  t.equal(info.serverListenerResourceNameTemplate, GRPC_SERVER_LISTENER_TEMPLATE);
  t.same(info.certificateProviders['default'], {
    pluginName: 'file_watcher',
    config: {
      certificateFile: '/var/run/secrets/workload-spiffe-credentials/cert-chain.pem',
      privateKeyFile: '/var/run/secrets/workload-spiffe-credentials/key.pem',
      caCertificateFile: '/var/run/secrets/workload-spiffe-credentials/root-cert.pem',
      refreshIntervalMs: 60_000,
    },
  });
  // The validation can fail: a provider without files is refused (guards against a vacuous check).
  const broken = renderGrpcBootstrap(params) as { certificate_providers: { default: { config: Record<string, unknown> } } };
  broken.certificate_providers.default.config = { refresh_interval: '60s' };
  t.throws(() => validateBootstrapConfig(broken), /either private_key_file and certificate_file or ca_certificate_file must be set/);
});

t.test("tandem's control plane reads the node as a proxyless client of its namespace", async (t) => {
  const p = proxyFromNode((renderGrpcBootstrap(params) as { node: unknown }).node);
  t.equal(p.proxyless, true);
  t.equal(p.namespace, 'demo');
  t.same(p.ips, ['10.1.2.3']);
  t.same(p.labels, { app: 'echo', version: 'v1' });
});

t.test('a bad xDS address is the user error', async (t) => {
  t.throws(() => renderGrpcBootstrap({ ...params, xdsAddress: 'no-port' }), { name: 'UserError', message: /xDS address must be HOST:PORT/ });
});

t.test('tandem bootstrap --grpc [--credentials-dir]', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tandem-grpc-bootstrap-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'bootstrap.json');
  const code = await main(['node', 'tandem', 'bootstrap', '--grpc', '--pod-name', 'p', '--pod-namespace', 'ns', '--pod-ip', '10.0.0.2', '--service-account', 'sa', '--xds-address', '10.96.0.10:15010', '--credentials-dir', '/certs', '-o', out]);
  t.equal(code, 0);
  const doc = JSON.parse(await readFile(out, 'utf8')) as Record<string, any>;
  t.same(doc, renderGrpcBootstrap({ podName: 'p', podNamespace: 'ns', podIp: '10.0.0.2', serviceAccount: 'sa', xdsAddress: '10.96.0.10:15010', credentialsDir: '/certs' }));
  t.equal(doc['certificate_providers'].default.config.certificate_file, '/certs/cert-chain.pem');
  t.equal(doc['node'].metadata.GENERATOR, 'grpc');
  t.ok(validateBootstrapConfig(doc), 'grpc-js-xds accepts what the command printed');
});
