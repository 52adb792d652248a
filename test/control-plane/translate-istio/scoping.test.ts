/**
 * Sidecar scoping cuts the bytes a proxy is sent. A proxy importing 1 of 10 equal namespaces gets a
 * tenth of the per-service resources, plus what it gets once whatever it imports: the capture listener
 * and its HTTP chain per port, the catch-all clusters and virtual hosts, and the short-name domains of
 * its own namespace's services (present in both, so not divided by 10). That floor puts the ratio a
 * little above the 10 % goal (10.7 % here, 10.4 % on bench/scoping.mjs's larger mesh); the
 * bound asserted is 11 %. Bytes are the protobuf encodings of the resources, as the ADS server sends
 * them.
 */
import t from 'tap';
import { scopingMesh } from '../../../bench/scoping-mesh.mjs';
import type { ConfigObject } from '../../../config/model.js';
import { meshOptions } from '../../../control-plane/model/options.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import { resourceBytes } from '../../../control-plane/xds/translate/istio/bytes.js';
import { translateSidecar } from '../../../control-plane/xds/translate/istio/translate.js';

const isolated: ConfigObject = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'Sidecar',
  metadata: { name: 'default', namespace: 'team-0' },
  spec: { egress: [{ hosts: ['~/*'] }] },
};

t.test('a namespace-scoped Sidecar: 1 of 10 namespaces → about a tenth of the bytes', async (t) => {
  const bytesOf = (scoped: boolean, extra: ConfigObject[] = []): { total: number; hosts: string[] } => {
    const mesh = scopingMesh({ namespaces: 10, services: 10, scoped });
    const snapshot = buildMeshSnapshot({ registry: mesh.registry, configs: [...mesh.configs, ...extra], options: meshOptions() });
    const r = translateSidecar(snapshot, mesh.proxy);
    const hosts = r.clusters.map((c) => String(c['name']).split('|')[3] ?? '').filter((h) => h !== '');
    return { total: resourceBytes(r).total, hosts: [...new Set(hosts)] };
  };
  const unscoped = bytesOf(false);
  const scoped = bytesOf(true);
  const fixed = bytesOf(false, [isolated]);
  t.equal(unscoped.hosts.length, 100, 'unscoped: every service');
  t.equal(scoped.hosts.length, 10, 'scoped: its own namespace only');
  t.ok(scoped.hosts.every((h) => h.endsWith('.team-0.svc.cluster.local')));
  t.equal(fixed.hosts.length, 0, '~/* imports nothing');
  const ratio = scoped.total / unscoped.total;
  t.comment(`bytes: unscoped ${unscoped.total}, scoped ${scoped.total} (${(ratio * 100).toFixed(1)} %), fixed part ${fixed.total}`);
  t.ok(fixed.total < scoped.total / 10, 'a proxy importing nothing gets next to nothing');
  t.ok(ratio <= 0.11, `scoped/unscoped ${ratio.toFixed(3)} <= 0.11`);
});
