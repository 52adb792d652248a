/**
 * Istio's own sample config (test/conformance/istio-config/samples/, the folder Istio's xDS tests load
 * as one mesh) loaded together into one MeshSnapshot with a small registry; every resource of a few
 * proxies — sidecars in several namespaces, with and without labels, and proxyless gRPC clients — must
 * pass the strict Envoy-proto checker.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { ConfigObject } from '../../../config/model.js';
import { isObject } from '../../../common/objects.js';
import { meshOptions } from '../../../control-plane/model/options.js';
import type { MeshProxy } from '../../../control-plane/model/proxy.js';
import { proxyView } from '../../../control-plane/model/proxy-view.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import type { RegistrySnapshot } from '../../../control-plane/registry/types.js';
import { translateProxyless, translateSidecar } from '../../../control-plane/xds/translate/istio/translate.js';
import { conformancePath } from '../../conformance.js';
import { checkAll } from './check.js';

const dir = conformancePath('istio-config', 'samples');

function loadSamples(): ConfigObject[] {
  const out: ConfigObject[] = [];
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  if (files.length === 0) throw new Error(`no samples in ${dir}`);
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(`${dir}/${f}`, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${f}: ${doc.errors[0]!.message}`);
      const j: unknown = doc.toJSON();
      if (isObject(j)) out.push(j as unknown as ConfigObject);
    }
  }
  return out;
}

// The services the samples route to, as the registry would have them.
const registry: RegistrySnapshot = {
  services: [
    { name: 'c', namespace: 'testns', addresses: ['10.96.1.1'], ports: [{ name: 'http', port: 8080, protocol: 'HTTP', endpoints: [
      { address: '10.1.0.1', port: 8080, labels: { version: 'v1' } },
      { address: '10.1.0.2', port: 8080, labels: { version: 'v2' } },
    ] }] },
    { name: 'service3', namespace: 'default', addresses: ['10.96.1.3'], ports: [{ name: 'http', port: 81, protocol: 'HTTP', endpoints: [
      { address: '10.1.0.3', port: 8081, labels: { version: 'v1' } },
    ] }] },
    { name: 'db', namespace: 'testns', addresses: [], ports: [{ name: 'pg', port: 5432, protocol: 'TCP', endpoints: [{ address: '10.1.0.9', port: 5432, labels: {} }] }] },
    { name: 'echo', namespace: 'default', addresses: [], ports: [{ name: 'grpc', port: 7070, protocol: 'GRPC', endpoints: [{ address: '10.1.0.7', port: 17070, labels: {} }] }] },
  ],
};

const configs = loadSamples();
const snapshot = buildMeshSnapshot({ registry, configs, options: meshOptions() });
const proxies: MeshProxy[] = [
  { namespace: 'testns', labels: { app: 'c', version: 'v1' } },
  { namespace: 'testns', labels: {} },
  { namespace: 'default', labels: { app: 'productpage' } },
  { namespace: 'istio-system', labels: {} },
  { namespace: 'elsewhere', labels: { version: 'v2' } },
];

t.test('the samples folder loads as one snapshot', async (t) => {
  t.ok(configs.length >= 60, `${configs.length} documents read`);
  t.ok(snapshot.virtualServices.length >= 10, 'VirtualServices indexed');
  t.ok(snapshot.destinationRules.length >= 5, 'DestinationRules indexed');
  t.ok(snapshot.services.filter((s) => s.origin !== 'registry').length >= 10, 'ServiceEntry hosts indexed');
});

for (const proxy of proxies) {
  t.test(`sidecar in ${proxy.namespace} ${JSON.stringify(proxy.labels)}: every resource passes the strict checker`, async (t) => {
    const view = proxyView(snapshot, proxy);
    const r = translateSidecar(snapshot, proxy);
    t.ok(r.routes.length > 0 && r.clusters.length > 2, `${view.services.length} services, ${r.routes.length} route configs, ${r.clusters.length} clusters`);
    t.same(checkAll(r), []);
  });
  t.test(`proxyless client in ${proxy.namespace}: every resource passes the strict checker`, async (t) => {
    const r = translateProxyless(snapshot, proxy);
    t.ok(r.listeners.length > 0);
    t.same(checkAll(r), []);
  });
}
