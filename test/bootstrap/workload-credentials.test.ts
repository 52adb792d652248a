import t from 'tap';
import { renderBootstrap, type SidecarBootstrapParams } from '../../bootstrap/sidecar.js';
import { STATIC_SECRET_TYPE, WORKLOAD_CREDENTIALS_DIR, staticSecrets } from '../../bootstrap/workload-credentials.js';
import { checkProtoJson } from '../../control-plane/proto/json.js';

/**
 * With certificates delivered, the sidecar bootstrap carries static secrets `default` and `ROOTCA`
 * reading the mounted files, each watching the mount directory (the kubelet swaps `..data`). The
 * expected secrets are written out by hand from Envoy's Secret proto (TlsCertificate's
 * certificate_chain/private_key/watched_directory, CertificateValidationContext's
 * trusted_ca/watched_directory) and the whole bootstrap is checked strictly against the protos.
 */
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const params: SidecarBootstrapParams = {
  podName: '$(POD_NAME)', podNamespace: '$(POD_NAMESPACE)', podIp: '$(INSTANCE_IP)', serviceAccount: '$(SERVICE_ACCOUNT)',
  xdsAddress: 'tandem-xds.tandem-system.svc:15010', labels: { app: 'reviews' }, appPorts: [9080],
};
const EXPECTED = [
  {
    name: 'default',
    tls_certificate: {
      certificate_chain: { filename: '/var/run/secrets/workload-spiffe-credentials/cert-chain.pem' },
      private_key: { filename: '/var/run/secrets/workload-spiffe-credentials/key.pem' },
      watched_directory: { path: '/var/run/secrets/workload-spiffe-credentials' },
    },
  },
  {
    name: 'ROOTCA',
    validation_context: {
      trusted_ca: { filename: '/var/run/secrets/workload-spiffe-credentials/root-cert.pem' },
      watched_directory: { path: '/var/run/secrets/workload-spiffe-credentials' },
    },
  },
];

t.test('static secrets default and ROOTCA from the mounted files', async (t) => {
  const b = renderBootstrap({ ...params, workloadCredentialsDir: WORKLOAD_CREDENTIALS_DIR }) as { static_resources: { secrets?: unknown } };
  t.same(b.static_resources.secrets, EXPECTED);
  t.same(checkProtoJson(BOOTSTRAP, b), [], 'decodes strictly as an Envoy Bootstrap');
  for (const s of staticSecrets()) t.same(checkProtoJson(STATIC_SECRET_TYPE, s), [], `secret ${String((s as { name: string }).name)} decodes strictly as an Envoy Secret`);
});

t.test('no secrets without delivered certificates; nothing else changes', async (t) => {
  const without = renderBootstrap(params) as { static_resources: Record<string, unknown> };
  const withCerts = renderBootstrap({ ...params, workloadCredentialsDir: WORKLOAD_CREDENTIALS_DIR }) as { static_resources: Record<string, unknown> };
  t.notOk('secrets' in without.static_resources);
  const { secrets: _s, ...rest } = withCerts.static_resources;
  t.same(rest, without.static_resources, 'the secrets are the only addition');
});

t.test('another directory (tandem bootstrap --credentials-dir) moves every path; a trailing slash is tolerated', async (t) => {
  const [id, root] = staticSecrets('/certs/') as [Record<string, any>, Record<string, any>];
  t.equal(id['tls_certificate'].certificate_chain.filename, '/certs/cert-chain.pem');
  t.equal(id['tls_certificate'].private_key.filename, '/certs/key.pem');
  t.equal(root['validation_context'].trusted_ca.filename, '/certs/root-cert.pem');
});
