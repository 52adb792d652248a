// The Kubernetes registry against an EMULATED apiserver (see k8s-emulator.ts): real
// @kubernetes/client-node informers, real HTTP, emulated list/watch semantics.
import t from 'tap';
import { createKubernetesRegistry, portProtocol, servicesFromObjects } from '../../../control-plane/registry/kubernetes.js';
import type { RegistrySnapshot, ServiceRegistry } from '../../../control-plane/registry/types.js';
import { EmulatedApiServer, PODS, SERVICES, SLICES, emulatorKubeConfig } from '../k8s-emulator.js';

const svc = (name: string, ns: string, ports: object[], extra: object = {}) => ({ metadata: { name, namespace: ns }, spec: { clusterIP: '10.96.0.10', ports, ...extra } });
const slice = (name: string, ns: string, service: string, ports: object[], endpoints: object[]) => ({
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports,
  endpoints,
});

t.test('protocol selection like Istio: appProtocol, then port name prefix', async (t) => {
  t.equal(portProtocol('http-web', undefined), 'HTTP');
  t.equal(portProtocol('grpc', undefined), 'GRPC');
  t.equal(portProtocol('http2-x', undefined), 'HTTP2');
  t.equal(portProtocol('web', 'kubernetes.io/h2c'), 'HTTP2');
  t.equal(portProtocol('tcp-db', 'grpc'), 'GRPC', 'appProtocol wins');
  t.equal(portProtocol('mysql', undefined), 'TCP');
  t.equal(portProtocol('', undefined), 'TCP');
});

t.test('Services + EndpointSlices -> snapshot (hand-checked)', async (t) => {
  const snap = servicesFromObjects(
    [
      svc('reviews', 'shop', [{ name: 'http', port: 9080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }], { clusterIPs: ['10.96.0.10'] }),
      svc('ext', 'shop', [{ name: 'http', port: 80 }], { type: 'ExternalName', externalName: 'example.com' }),
      svc('headless', 'shop', [{ port: 5432 }], { clusterIP: 'None' }),
    ],
    [
      slice('reviews-a', 'shop', 'reviews', [{ name: 'http', port: 19080 }], [
        { addresses: ['10.1.0.2'], zone: 'z1' },
        { addresses: ['10.1.0.1'], conditions: { ready: true } },
        { addresses: ['10.1.0.9'], conditions: { ready: false } },
      ]),
      slice('reviews-b', 'shop', 'reviews', [{ name: 'http', port: 19080 }], [{ addresses: ['10.1.0.1'] }]),
      slice('headless-a', 'shop', 'headless', [{ port: 5432 }], [{ addresses: ['10.1.1.1'] }]),
    ],
  );
  t.same(snap, {
    services: [
      { name: 'headless', namespace: 'shop', addresses: [], ports: [{ name: 'port-5432', port: 5432, protocol: 'TCP', endpoints: [{ address: '10.1.1.1', port: 5432, labels: {} }] }] },
      {
        name: 'reviews',
        namespace: 'shop',
        addresses: ['10.96.0.10'],
        ports: [
          {
            name: 'http',
            port: 9080,
            protocol: 'HTTP',
            endpoints: [
              { address: '10.1.0.1', port: 19080, labels: {} },
              { address: '10.1.0.2', port: 19080, labels: { 'topology.kubernetes.io/zone': 'z1' } },
            ],
          },
        ],
      },
    ],
  }, 'UDP ports, ExternalName services and unready endpoints left out; an address in two slices counted once');
});

const pod = (name: string, ns: string, labels: Record<string, string>, serviceAccountName?: string) => ({ metadata: { name, namespace: ns, labels }, spec: { serviceAccountName, containers: [] } });

t.test('an endpoint carries the labels and service account of the pod its targetRef names (hand-checked)', async (t) => {
  const snap = servicesFromObjects(
    [svc('reviews', 'shop', [{ name: 'http', port: 9080 }])],
    [
      slice('reviews-a', 'shop', 'reviews', [{ name: 'http', port: 9080 }], [
        { addresses: ['10.1.0.1'], zone: 'z1', targetRef: { kind: 'Pod', name: 'reviews-v1-x', namespace: 'shop' } },
        // no namespace in the targetRef: the slice's
        { addresses: ['10.1.0.2'], targetRef: { kind: 'Pod', name: 'reviews-v2-y' } },
        // a pod not (yet) seen, and a targetRef that is not a pod: nothing but the zone
        { addresses: ['10.1.0.3'], targetRef: { kind: 'Pod', name: 'gone' } },
        { addresses: ['10.1.0.4'], targetRef: { kind: 'Node', name: 'reviews-v1-x' } },
      ]),
    ],
    [
      pod('reviews-v1-x', 'shop', { app: 'reviews', version: 'v1', 'security.istio.io/tlsMode': 'istio' }, 'bookinfo-reviews'),
      pod('reviews-v2-y', 'shop', { app: 'reviews', version: 'v2' }),
      // same name, other namespace: must not be joined
      pod('gone', 'other', { app: 'wrong' }, 'wrong'),
    ],
  );
  t.same(snap.services[0]?.ports[0]?.endpoints, [
    { address: '10.1.0.1', port: 9080, labels: { app: 'reviews', version: 'v1', 'security.istio.io/tlsMode': 'istio', 'topology.kubernetes.io/zone': 'z1' }, serviceAccount: 'bookinfo-reviews' },
    { address: '10.1.0.2', port: 9080, labels: { app: 'reviews', version: 'v2' } },
    { address: '10.1.0.3', port: 9080, labels: {} },
    { address: '10.1.0.4', port: 9080, labels: {} },
  ]);
});

t.test('informers: a pod relabelled after its endpoint appeared re-labels the endpoint', async (t) => {
  const api = new EmulatedApiServer();
  const port = await api.start();
  api.apply(SERVICES, 'ADDED', svc('reviews', 'shop', [{ name: 'http', port: 9080 }]));
  api.apply(SLICES, 'ADDED', slice('reviews-a', 'shop', 'reviews', [{ name: 'http', port: 9080 }], [{ addresses: ['10.1.0.1'], targetRef: { kind: 'Pod', name: 'r1', namespace: 'shop' } }]));
  const reg: ServiceRegistry = await createKubernetesRegistry({ kubeConfig: emulatorKubeConfig(port), retryMs: 50 });
  t.teardown(async () => {
    await reg.close();
    await api.close();
  });
  const labelsNow = (): Record<string, string> | undefined => reg.snapshot().services[0]?.ports[0]?.endpoints[0]?.labels;
  t.same(labelsNow(), {}, 'the pod is not known yet');
  t.ok(await until(() => api.openWatches(PODS) === 1), 'watching pods');
  api.apply(PODS, 'ADDED', pod('r1', 'shop', { version: 'v1' }, 'reviews'));
  t.ok(await until(() => labelsNow()?.['version'] === 'v1'), 'the pod arrives: its labels');
  t.equal(reg.snapshot().services[0]?.ports[0]?.endpoints[0]?.serviceAccount, 'reviews', 'and its service account');
  api.apply(PODS, 'MODIFIED', pod('r1', 'shop', { version: 'v2' }, 'reviews'));
  t.ok(await until(() => labelsNow()?.['version'] === 'v2'), 'relabelled');
});

async function until(probe: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (probe()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

const view = (s: RegistrySnapshot) => s.services.map((x) => `${x.namespace}/${x.name}:${x.ports.map((p) => `${p.port}=${p.endpoints.map((e) => e.address).join('+')}`).join(',')}`);

t.test('informers: list, watch, bookmark resume, 410 re-list, error retry — no missed or duplicated events', async (t) => {
  const api = new EmulatedApiServer();
  const port = await api.start();
  api.apply(SERVICES, 'ADDED', svc('reviews', 'shop', [{ name: 'http', port: 9080 }]));
  api.apply(SLICES, 'ADDED', slice('reviews-a', 'shop', 'reviews', [{ name: 'http', port: 9080 }], [{ addresses: ['10.1.0.1'] }]));
  api.apply(SERVICES, 'ADDED', svc('ratings', 'shop', [{ name: 'grpc', port: 7070 }]));

  const reg: ServiceRegistry = await createKubernetesRegistry({ kubeConfig: emulatorKubeConfig(port), retryMs: 50 });
  t.teardown(async () => {
    await reg.close();
    await api.close();
  });
  const changes: string[][] = [];
  reg.onChange((s) => changes.push(view(s)));
  t.same(view(reg.snapshot()), ['shop/ratings:7070=', 'shop/reviews:9080=10.1.0.1'], 'initial list');
  t.ok(await until(() => api.openWatches(SERVICES) === 1 && api.openWatches(SLICES) === 1), 'watching both collections');

  // a live event
  api.apply(SLICES, 'MODIFIED', slice('reviews-a', 'shop', 'reviews', [{ name: 'http', port: 9080 }], [{ addresses: ['10.1.0.1'] }, { addresses: ['10.1.0.2'] }]));
  t.ok(await until(() => changes.length === 1));
  t.same(changes[0], ['shop/ratings:7070=', 'shop/reviews:9080=10.1.0.1+10.1.0.2']);

  // bookmark, then the watch ends; an event happens while disconnected; resume from the bookmark
  const bookmarkRv = api.bookmark(SLICES);
  await new Promise((r) => setTimeout(r, 50));
  api.endWatches(SLICES);
  api.apply(SLICES, 'ADDED', slice('ratings-a', 'shop', 'ratings', [{ name: 'grpc', port: 7070 }], [{ addresses: ['10.2.0.1'] }]));
  t.ok(await until(() => changes.length === 2), 'the missed event arrives through the resumed watch');
  t.same(changes[1], ['shop/ratings:7070=10.2.0.1', 'shop/reviews:9080=10.1.0.1+10.1.0.2']);
  const resumed = api.requests.filter((r) => r.path === SLICES && r.watch).at(-1);
  t.equal(resumed?.resourceVersion, String(bookmarkRv), 'the watch resumed from the bookmark resourceVersion');
  t.equal(api.requests.filter((r) => r.path === SLICES && !r.watch).length, 1, 'no re-list needed');

  // history compacted while disconnected: the watch gets 410 Gone and the informer re-lists
  api.endWatches(SERVICES);
  api.apply(SERVICES, 'DELETED', svc('ratings', 'shop', [{ name: 'grpc', port: 7070 }]));
  api.compact(SERVICES);
  t.ok(await until(() => changes.length === 3), 'the deletion is seen after the re-list');
  t.same(changes[2], ['shop/reviews:9080=10.1.0.1+10.1.0.2']);
  t.equal(api.requests.filter((r) => r.path === SERVICES && !r.watch).length, 2, 're-listed once after 410');
  t.ok(await until(() => api.openWatches(SERVICES) === 1), 'watching again');

  // an apiserver error on a watch: the informer is restarted
  api.failNextWatch(SLICES, 500);
  api.endWatches(SLICES);
  t.ok(await until(() => api.openWatches(SLICES) === 1), 'watch re-established after a 500');
  api.apply(SLICES, 'MODIFIED', slice('reviews-a', 'shop', 'reviews', [{ name: 'http', port: 9080 }], [{ addresses: ['10.1.0.3'] }]));
  t.ok(await until(() => changes.length === 4));
  t.same(changes[3], ['shop/reviews:9080=10.1.0.3']);

  await new Promise((r) => setTimeout(r, 100));
  t.equal(changes.length, 4, 'one change event per change: nothing duplicated');
});

t.test('an unreachable API server at start is a user error', async (t) => {
  const api = new EmulatedApiServer();
  const port = await api.start();
  await api.close();
  await t.rejects(createKubernetesRegistry({ kubeConfig: emulatorKubeConfig(port) }), { name: 'UserError', message: /kubernetes registry: cannot list Services, EndpointSlices and Pods from http:\/\/127\.0\.0\.1/ });
});
