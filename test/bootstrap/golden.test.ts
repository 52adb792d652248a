import { fileURLToPath } from 'node:url';
import t from 'tap';
import { renderBootstrap, type SidecarBootstrapParams } from '../../bootstrap/sidecar.js';
import { checkProtoJson } from '../../control-plane/proto/json.js';
import { checkNoUnusedGoldens, goldenJson, matchGolden } from '../golden.js';

/**
 * The sidecar bootstrap, whole, against golden files in testdata/ (hand-checked when written;
 * `UPDATE_GOLDENS=1` rewrites them, and the diff is reviewed before it is committed). The
 * hand-written assertions on its parts are in bootstrap.test.ts; this catches every other change.
 */

const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));
const SUFFIX = '.golden.json';
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

// What the injection webhook passes: the pod's run-time values as Kubernetes $(VAR) references.
const webhook: SidecarBootstrapParams = {
  podName: '$(POD_NAME)',
  podNamespace: '$(POD_NAMESPACE)',
  podIp: '$(INSTANCE_IP)',
  serviceAccount: '$(SERVICE_ACCOUNT)',
  xdsAddress: 'tandem-xds.tandem-system.svc:15010',
  clusterId: 'Kubernetes',
  meshId: 'cluster.local',
  labels: { app: 'reviews', version: 'v2' },
  appPorts: [9080],
};

const cases: Record<string, SidecarBootstrapParams> = {
  // `tandem bootstrap` with only the required flags.
  minimal: { podName: 'reviews-v2-7d9f', podNamespace: 'shop', podIp: '10.1.2.3', serviceAccount: 'reviews', xdsAddress: 'tandem-xds.tandem-system.svc:15010' },
  webhook,
  'ipv6-xds-address': { ...webhook, xdsAddress: '[fd00::10]:15012', clusterDomain: 'example.internal' },
  'probes-http-grpc-tcp': {
    ...webhook,
    appProbes: {
      '/app-health/reviews/livez': { httpGet: { path: '/healthz', port: 9080, httpHeaders: [{ name: 'X-Probe', value: 'live' }] }, timeoutSeconds: 3 },
      '/app-health/reviews/readyz': { httpGet: { path: 'ready', port: '8443', scheme: 'HTTPS' } },
      '/app-health/cart/livez': { grpc: { port: 9090, service: 'shop.Cart' }, timeoutSeconds: 2 },
      '/app-health/cart/startupz': { tcpSocket: { port: 9090 } },
    },
  },
  'prometheus-merge': { ...webhook, prometheusScrape: { scrape: 'true', port: '9080', path: '/metrics', targets: [{ port: '9080' }, { port: '9102', path: '/stats' }] } },
};

for (const [name, params] of Object.entries(cases)) {
  t.test(name, async (t) => {
    const b = renderBootstrap(params);
    t.same(checkProtoJson(BOOTSTRAP, b), [], 'decodes strictly as an Envoy Bootstrap');
    matchGolden(t, TESTDATA, name + SUFFIX, goldenJson(b));
  });
}

t.test('no golden without a case', async (t) => {
  checkNoUnusedGoldens(t, TESTDATA, SUFFIX, Object.keys(cases).map((n) => n + SUFFIX));
});
