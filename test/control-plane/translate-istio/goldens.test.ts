/**
 * One hand-written golden per feature group (see golden.ts): Istio config in, the Envoy resources a
 * proxy is sent out, every emitted resource also through the strict Envoy-proto checker.
 */
import t from 'tap';
import { meshOptions, type MeshOptions } from '../../../control-plane/model/options.js';
import type { MeshProxy } from '../../../control-plane/model/proxy.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import { translateProxyless, translateSidecar } from '../../../control-plane/xds/translate/istio/translate.js';
import { checkAll } from './check.js';
import { golden, readConfigs, unusedGoldens } from './golden.js';
import { registry } from './registry.js';

const productpage: MeshProxy = { namespace: 'shop', labels: { app: 'productpage', version: 'v1' } };

interface Case {
  name: string;
  what: string;
  proxy?: MeshProxy;
  proxyless?: boolean;
  options?: Partial<MeshOptions>;
}

const cases: Case[] = [
  { name: 'routing', what: 'matches (uri, headers, method, authority, scheme, query, withoutHeaders, port) and weighted subsets' },
  { name: 'actions', what: 'redirect, direct response, rewrite, timeout, retries (given, default, none), fault, CORS, mirror, header edits' },
  { name: 'traffic-policy', what: 'DestinationRule lb, connection pool, outlier detection, TLS, port-level settings, subset override, consistent hash on the route' },
  { name: 'service-entries', what: 'ServiceEntry resolutions (DNS, STATIC, DNS_ROUND_ROBIN, NONE) and REGISTRY_ONLY from a Sidecar' },
  { name: 'l4-routes', what: 'tcp routes (destinationSubnets, weighted) and tls routes (sniHosts)' },
  { name: 'proxyless', what: 'proxyless gRPC: API listener and route configuration restricted to what grpc-js-xds honours', proxyless: true },
  { name: 'default', what: 'no Istio config: default routes (with Istio\'s default retry policy) and clusters' },
];

for (const c of cases) {
  t.test(`${c.name}: ${c.what}`, async (t) => {
    const snapshot = buildMeshSnapshot({ registry, configs: readConfigs(c.name), options: meshOptions(c.options) });
    const proxy = c.proxy ?? productpage;
    const out = c.proxyless ? translateProxyless(snapshot, proxy) : translateSidecar(snapshot, proxy);
    const g = golden(c.name, out);
    t.same(g.actual, g.expected, 'matches the hand-written golden');
    t.same(checkAll(out), [], 'every resource passes the strict checker');
  });
}

t.test('every golden in testdata/ is used', async (t) => {
  t.same(unusedGoldens(), []);
});
