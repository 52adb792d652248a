import fc from 'fast-check';
import type { V1Container, V1LifecycleHandler, V1Probe, V1Volume } from '@kubernetes/client-node';
import type { Pod } from '../../inject/types.js';

/**
 * fast-check arbitraries for pods a cluster would accept: unique container names, ports named
 * the IANA way, probes of every kind on every slot, lifecycle hooks, security contexts, volumes
 * with mounts that refer to them, and Istio's per-pod annotations with valid and invalid values.
 * The test checks each generated pod against the strict schema before admitting it, so a
 * generator mistake fails loudly instead of testing nothing.
 */

/** The properties' run count: FC_RUNS raises it for soak runs (bench/), the default keeps CI fast. */
export function runs(def: number): number {
  const raw = process.env['FC_RUNS'];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`FC_RUNS=${raw}: expected a positive integer`);
  return n;
}

const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$/);
/** IANA_SVC_NAME: up to 15 characters, lowercase letters, digits and inner single hyphens, at least one letter. */
const portName = fc.stringMatching(/^[a-z]{1,4}(-[a-z0-9]{1,4})?$/);
const image = fc.constantFrom('nginx', 'shop/web:1', 'registry.example.com/team/app@sha256:' + 'a'.repeat(64), 'busybox:1.36');
const seconds = fc.integer({ min: 1, max: 30 });
/** App ports, a few of them on or near Istio's own (15000-15090) to make collisions likely. */
const portNumber = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 65535 }) }, { weight: 1, arbitrary: fc.constantFrom(80, 8080, 15000, 15001, 15006, 15020, 15021, 15090) });

interface PortSpec {
  containerPort: number;
  name?: string;
  protocol?: 'TCP' | 'UDP';
}

const ports = fc.uniqueArray(
  fc.record({ containerPort: portNumber, name: portName, protocol: fc.constantFrom('TCP' as const, 'UDP' as const) }, { requiredKeys: ['containerPort'] }),
  { maxLength: 3, selector: (p) => `${p.containerPort}/${p.protocol ?? 'TCP'}` },
).map((ps) => {
  // Names must be unique in a container: the first keeps it.
  const seen = new Set<string>();
  return ps.map((p): PortSpec => {
    if (p.name === undefined || seen.has(p.name)) {
      const { name: _n, ...rest } = p;
      return rest;
    }
    seen.add(p.name);
    return p;
  });
});

/** A probe port: a number, a declared port's name, an undeclared name, or a numeric string. */
function probePort(declared: PortSpec[]): fc.Arbitrary<number | string> {
  const names = declared.flatMap((p) => (p.name ? [p.name] : []));
  return fc.oneof(portNumber, names.length > 0 ? fc.constantFrom(...names) : portNumber, fc.constantFrom('nosuch', '8080'));
}

function handlerArb(declared: PortSpec[], kinds: ReadonlyArray<'httpGet' | 'tcpSocket' | 'grpc' | 'exec' | 'sleep'>): fc.Arbitrary<V1Probe & V1LifecycleHandler> {
  const port = probePort(declared);
  const all = {
    httpGet: fc
      .record(
        {
          path: fc.constantFrom('/', '/healthz', '/ready?full=1', '/a b', '/ünïcode'),
          port,
          host: fc.constantFrom('localhost', '10.1.2.3'),
          scheme: fc.constantFrom('HTTP', 'HTTPS'),
          httpHeaders: fc.array(fc.record({ name: fc.constantFrom('X-Probe', 'Host', 'Authorization'), value: fc.string({ maxLength: 8 }) }), { maxLength: 2 }),
        },
        { requiredKeys: ['port'] },
      )
      .map((httpGet) => ({ httpGet })),
    tcpSocket: fc.record({ port, host: fc.constant('localhost') }, { requiredKeys: ['port'] }).map((tcpSocket) => ({ tcpSocket })),
    // grpc.port is an integer in the API (no named ports)
    grpc: fc.record({ port: portNumber, service: fc.constantFrom('', 'grpc.health.v1.Health', 'liveness') }, { requiredKeys: ['port'] }).map((grpc) => ({ grpc })),
    exec: fc.array(fc.constantFrom('cat', '/tmp/healthy', 'sh', '-c', 'exit 0'), { minLength: 1, maxLength: 3 }).map((command) => ({ exec: { command } })),
    sleep: seconds.map((s) => ({ sleep: { seconds: s } })),
  };
  return fc.oneof(...kinds.map((k) => all[k])) as fc.Arbitrary<V1Probe & V1LifecycleHandler>;
}

function probeArb(declared: PortSpec[]): fc.Arbitrary<V1Probe> {
  return fc
    .tuple(
      handlerArb(declared, ['httpGet', 'tcpSocket', 'grpc', 'exec']),
      fc.record({ initialDelaySeconds: fc.nat(60), periodSeconds: seconds, timeoutSeconds: seconds, failureThreshold: seconds, terminationGracePeriodSeconds: seconds }, { requiredKeys: [] }),
    )
    .map(([h, timing]) => ({ ...timing, ...h }));
}

const securityContext = fc.record(
  {
    runAsUser: fc.constantFrom(0, 1000, 1337, 65532),
    runAsGroup: fc.constantFrom(0, 1000, 1337),
    runAsNonRoot: fc.boolean(),
    privileged: fc.boolean(),
    readOnlyRootFilesystem: fc.boolean(),
    allowPrivilegeEscalation: fc.boolean(),
    capabilities: fc.record({ add: fc.subarray(['NET_ADMIN', 'NET_RAW', 'SYS_TIME']), drop: fc.subarray(['ALL', 'NET_RAW']) }, { requiredKeys: [] }),
    seccompProfile: fc.constantFrom({ type: 'RuntimeDefault' }, { type: 'Unconfined' }),
  },
  { requiredKeys: [] },
);

const resources = fc.record(
  {
    requests: fc.record({ cpu: fc.constantFrom('10m', '1', '250m'), memory: fc.constantFrom('64Mi', '1Gi') }, { requiredKeys: [] }),
    limits: fc.record({ cpu: fc.constantFrom('2', '500m'), memory: fc.constantFrom('128Mi', '2Gi') }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

const env = fc.array(
  fc.oneof(
    fc.record({ name: fc.constantFrom('MODE', 'PORT', 'SECRET_TOKEN', 'ISTIO_META_X'), value: fc.string({ maxLength: 10 }) }),
    fc.record({ name: fc.constant('POD_IP'), valueFrom: fc.constant({ fieldRef: { fieldPath: 'status.podIP' } }) }),
  ),
  { maxLength: 3 },
);

function containerArb(name: string, volumes: string[], opts: { probes: boolean; restartAlways?: boolean }): fc.Arbitrary<V1Container> {
  return ports.chain((declared) =>
    fc
      .record(
        {
          image,
          command: fc.array(fc.constantFrom('/app', '--port', '8080'), { minLength: 1, maxLength: 3 }),
          args: fc.array(fc.string({ maxLength: 6 }), { maxLength: 2 }),
          env,
          resources,
          securityContext,
          imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent'),
          livenessProbe: opts.probes ? probeArb(declared) : fc.constant(undefined),
          readinessProbe: opts.probes ? probeArb(declared) : fc.constant(undefined),
          startupProbe: opts.probes ? probeArb(declared) : fc.constant(undefined),
          lifecycle: fc.record({ postStart: handlerArb(declared, ['httpGet', 'tcpSocket', 'exec', 'sleep']), preStop: handlerArb(declared, ['httpGet', 'tcpSocket', 'exec', 'sleep']) }, { requiredKeys: [] }),
          volumeMounts: volumes.length > 0 ? fc.uniqueArray(fc.constantFrom(...volumes), { maxLength: volumes.length }).map((vs) => vs.map((v, i) => ({ name: v, mountPath: `/mnt/${i}-${v}` }))) : fc.constant(undefined),
        },
        { requiredKeys: ['image'] },
      )
      .map((c) => {
        const out: Record<string, unknown> = { name };
        for (const [k, v] of Object.entries(c)) if (v !== undefined) out[k] = v;
        if (declared.length > 0) out['ports'] = declared;
        if (opts.restartAlways) out['restartPolicy'] = 'Always';
        return out as unknown as V1Container;
      }),
  );
}

function volumeArb(name: string): fc.Arbitrary<V1Volume> {
  return fc.constantFrom<V1Volume>(
    { name, emptyDir: {} },
    { name, emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
    { name, configMap: { name: 'settings' } },
    { name, secret: { secretName: 'creds', defaultMode: 0o400 } },
    { name, projected: { sources: [{ serviceAccountToken: { path: 'token', audience: 'istio-ca', expirationSeconds: 3600 } }] } },
  );
}

/** Istio's per-pod annotations, each with values Istio accepts and values it refuses. */
const ANNOTATION_VALUES: Readonly<Record<string, readonly string[]>> = {
  'sidecar.istio.io/inject': ['true', 'false', 'yes', 'garbage'],
  'sidecar.istio.io/rewriteAppHTTPProbers': ['true', 'false', '0', 'maybe'],
  'sidecar.istio.io/nativeSidecar': ['true', 'false', 'perhaps'],
  'sidecar.istio.io/interceptionMode': ['REDIRECT', 'TPROXY', 'bogus'],
  'sidecar.istio.io/proxyCPU': ['100m', '2', 'lots', '-1'],
  'sidecar.istio.io/proxyMemory': ['128Mi', '1Gi', 'x'],
  'sidecar.istio.io/proxyCPULimit': ['2', 'abc'],
  'sidecar.istio.io/proxyMemoryLimit': ['1Gi', '??'],
  'sidecar.istio.io/proxyImage': ['envoyproxy/envoy:v1.31.0', ''],
  'sidecar.istio.io/logLevel': ['debug', 'warning', 'chatty'],
  'sidecar.istio.io/componentLogLevel': ['misc:error', 'upstream:debug,connection:trace', 'bad'],
  'sidecar.istio.io/status': [
    '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy","istio-data"],"imagePullSecrets":null}',
    '{not json',
    '',
    '[]',
  ],
  'traffic.sidecar.istio.io/includeOutboundIPRanges': ['*', '10.0.0.0/8,192.168.0.0/16', '', 'not-a-cidr', '10.0.0.1/40'],
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': ['169.254.169.254/32', 'fd00::/8', 'nope'],
  'traffic.sidecar.istio.io/includeInboundPorts': ['*', '8080,9090', '', 'abc'],
  'traffic.sidecar.istio.io/excludeInboundPorts': ['15020', '70000', '80, 443'],
  'traffic.sidecar.istio.io/includeOutboundPorts': ['443', '-1'],
  'traffic.sidecar.istio.io/excludeOutboundPorts': ['3306,5432', 'x'],
  'traffic.sidecar.istio.io/kubevirtInterfaces': ['net1', ''],
  'proxy.istio.io/config': ['concurrency: 2', '{holdApplicationUntilProxyStarts: true}', 'terminationDrainDuration: 10s', 'not: [valid', '[]', 'concurrency: many'],
  'proxy.istio.io/overrides': ['{"containers":[]}', 'garbage'],
  'inject.istio.io/templates': ['sidecar', 'sidecar,init', 'grpc-agent', 'nosuch'],
  'prometheus.io/scrape': ['true', 'false'],
  'prometheus.io/port': ['9090', 'x'],
  'prometheus.io/path': ['/metrics', 'stats'],
  'prometheus.istio.io/merge-metrics': ['true', 'false', 'x'],
  'kubectl.kubernetes.io/default-container': ['app-0', 'nosuch'],
  'istio.io/rev': ['default', 'canary'],
};

const annotations = fc
  .subarray(Object.keys(ANNOTATION_VALUES), { maxLength: 6 })
  .chain((keys) => fc.tuple(...keys.map((k) => fc.constantFrom(...(ANNOTATION_VALUES[k] ?? [])).map((v) => [k, v] as const))))
  .map((pairs) => Object.fromEntries(pairs) as Record<string, string>);

/** Rarely: a value that decides the outcome alone (most pods should reach the injector). */
const rarely = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

const labels = fc
  .record({
    app: fc.option(dnsLabel, { nil: undefined }),
    version: fc.option(fc.constantFrom('v1', 'v2'), { nil: undefined }),
    'sidecar.istio.io/inject': rarely(fc.constantFrom('true', 'false', 'garbage')),
    'istio.io/rev': rarely(fc.constantFrom('default', 'canary')),
    'service.istio.io/canonical-name': fc.option(dnsLabel, { nil: undefined }),
  })
  .map((l) => Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) as Record<string, string>);

export interface PodCase {
  pod: Pod;
  /** the namespace of the admission request */
  namespace: string;
}

/** A pod as the apiserver sends it to the webhook, and the request's namespace. */
export const podCase: fc.Arbitrary<PodCase> = fc
  .record({
    containers: fc.integer({ min: 1, max: 4 }),
    inits: fc.integer({ min: 0, max: 3 }),
    // Now and then a volume named like one the injection adds: the pod must still come out valid.
    volumes: fc.uniqueArray(fc.oneof({ weight: 6, arbitrary: dnsLabel }, { weight: 1, arbitrary: fc.constantFrom('istio-envoy', 'istio-data', 'istio-podinfo', 'istio-token') }), { maxLength: 3 }),
  })
  .chain(({ containers, inits, volumes }) =>
    fc.record({
      name: fc.option(dnsLabel, { nil: undefined }),
      podNamespace: fc.option(fc.constantFrom('shop', 'bookinfo'), { nil: undefined }),
      namespace: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('shop', 'bookinfo') }, { weight: 1, arbitrary: fc.constant('kube-system') }),
      labels: fc.option(labels, { nil: undefined }),
      annotations: fc.option(annotations, { nil: undefined }),
      containers: fc.tuple(...Array.from({ length: containers }, (_, i) => containerArb(`app-${i}`, volumes, { probes: true }))),
      initContainers: fc.tuple(...Array.from({ length: inits }, (_, i) => fc.boolean().chain((always) => containerArb(`init-${i}`, volumes, { probes: always, restartAlways: always })))),
      volumes: fc.tuple(...volumes.map(volumeArb)),
      securityContext: fc.option(fc.record({ runAsUser: fc.constantFrom(0, 1000), runAsNonRoot: fc.boolean(), fsGroup: fc.constantFrom(1000, 1337) }, { requiredKeys: [] }), { nil: undefined }),
      serviceAccountName: fc.option(dnsLabel, { nil: undefined }),
      hostNetwork: rarely(fc.boolean()),
      ownerReferences: fc.option(fc.constant([{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9f8b7c6', uid: '0a1b2c3d-0000-4000-8000-000000000001', controller: true }]), { nil: undefined }),
    }),
  )
  .map((g) => {
    const metadata: Record<string, unknown> = g.name !== undefined ? { name: g.name } : { generateName: 'web-5d9f8b7c6-' };
    if (g.podNamespace !== undefined) metadata['namespace'] = g.podNamespace;
    if (g.labels !== undefined) metadata['labels'] = g.labels;
    if (g.annotations !== undefined) metadata['annotations'] = g.annotations;
    if (g.ownerReferences !== undefined) metadata['ownerReferences'] = g.ownerReferences;
    const spec: Record<string, unknown> = { containers: g.containers };
    if (g.initContainers.length > 0) spec['initContainers'] = g.initContainers;
    if (g.volumes.length > 0) spec['volumes'] = g.volumes;
    if (g.securityContext !== undefined) spec['securityContext'] = g.securityContext;
    if (g.serviceAccountName !== undefined) spec['serviceAccountName'] = g.serviceAccountName;
    if (g.hostNetwork !== undefined) spec['hostNetwork'] = g.hostNetwork;
    // A pod in a request carries its namespace's name when it has one; one without takes the request's.
    const namespace = g.podNamespace ?? g.namespace;
    return { pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec } as unknown as Pod, namespace };
  });
