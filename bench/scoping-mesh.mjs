// The mesh the scoping benchmark and its test share: `namespaces` namespaces with `services` HTTP
// services each (3 endpoints over two versions), every service with a VirtualService (a header route
// to v2 and an 80/20 split) and a DestinationRule (two subsets), and in the first namespace a
// namespace-scoped Sidecar importing only its own namespace. Pure data: no tandem import, so the
// bench (dist/) and the test (TypeScript sources) translate the very same input.

/**
 * @param {{ namespaces?: number, services?: number, scoped?: boolean }} [o]
 * @returns {{ registry: { services: object[] }, configs: object[], proxy: { namespace: string, labels: Record<string, string> } }}
 */
export function scopingMesh({ namespaces = 10, services = 20, scoped = true } = {}) {
  const registryServices = [];
  const configs = [];
  let t = 0;
  const meta = (name, namespace) => ({ name, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, t++)).toISOString() });
  for (let n = 0; n < namespaces; n++) {
    const ns = `team-${n}`;
    for (let s = 0; s < services; s++) {
      const name = `svc-${s}`;
      registryServices.push({
        name,
        namespace: ns,
        addresses: [`10.${96 + n}.${s >> 8}.${s & 255}`],
        ports: [{ name: 'http', port: 8080, protocol: 'HTTP', endpoints: [0, 1, 2].map((e) => ({ address: `10.${n}.${s}.${e + 1}`, port: 8080, labels: { version: e === 2 ? 'v2' : 'v1' } })) }],
      });
      configs.push({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: meta(name, ns),
        spec: {
          hosts: [name],
          http: [
            { match: [{ headers: { 'end-user': { exact: 'tester' } } }], route: [{ destination: { host: name, subset: 'v2' } }] },
            { route: [{ destination: { host: name, subset: 'v1' }, weight: 80 }, { destination: { host: name, subset: 'v2' }, weight: 20 }] },
          ],
        },
      });
      configs.push({
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: meta(name, ns),
        spec: { host: name, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
      });
    }
  }
  if (scoped) configs.push({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: meta('default', 'team-0'), spec: { egress: [{ hosts: ['./*'] }] } });
  return { registry: { services: registryServices }, configs, proxy: { namespace: 'team-0', labels: { app: 'svc-0', version: 'v1' } } };
}
