import t from 'tap';
import { renderBootstrap } from '../../bootstrap/sidecar.js';
import { UserError } from '../../common/errors.js';
import { injectPod, parseStatus, OVERRIDES_ANNOTATION } from '../../inject/injector.js';
import { workloadOf, canonicalLabels, truncateLabelValue } from '../../inject/canonical.js';
import type { Pod } from '../../inject/types.js';
import { basicPod, injector, manual, podProblems } from './helpers.js';

const DOWNWARD_ENV = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
  { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
  { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
];
// Istio's terminationDrainDuration default (5s): drain inbound listeners through the admin port, then wait.
const DRAIN_5S = [
  "(exec 3<>/dev/tcp/127.0.0.1/15000 && printf 'POST /drain_listeners?inboundonly&graceful HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r _ <&3) 2>/dev/null",
  'sleep 5',
].join('\n');
const RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } };

t.test('golden: the default (native sidecar) injection of a one-container pod', async (t) => {
  const inj = await injector();
  const input = basicPod({ labels: { app: 'web', version: 'v2' } });
  const frozen = structuredClone(input);
  const out = injectPod(input, manual('shop'), inj);
  t.same(input, frozen, 'the input pod is not mutated');
  t.same(out.decision, { inject: true, rule: 'policy', reason: 'injector policy is enabled' });
  t.same(out.warnings, []);
  const labels = { app: 'web', version: 'v2', 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': 'web', 'service.istio.io/canonical-revision': 'v2' };
  const bootstrap = JSON.stringify(
    renderBootstrap({
      podName: '$(POD_NAME)', podNamespace: '$(POD_NAMESPACE)', podIp: '$(INSTANCE_IP)', serviceAccount: '$(SERVICE_ACCOUNT)',
      xdsAddress: 'tandem-xds.tandem-system.svc:15010', clusterId: 'Kubernetes', meshId: 'cluster.local', labels, appPorts: [8080],
    }),
  );
  t.same(out.pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web',
      namespace: 'shop',
      labels,
      annotations: {
        'kubectl.kubernetes.io/default-container': 'app',
        'kubectl.kubernetes.io/default-logs-container': 'app',
        'istio.io/rev': 'default',
        'sidecar.istio.io/status': '{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["istio-envoy","istio-data","istio-podinfo"],"imagePullSecrets":null,"revision":"default"}',
        // Istio's metrics merge: Prometheus scrapes the proxy's status port.
        'prometheus.io/port': '15020',
        'prometheus.io/path': '/stats/prometheus',
        'prometheus.io/scrape': 'true',
      },
    },
    spec: {
      containers: [{ name: 'app', image: 'shop/web:1', ports: [{ containerPort: 8080, name: 'http' }] }],
      initContainers: [
        {
          name: 'istio-init',
          image: 'ghcr.io/tandem-mesh/tandem:0.1.0',
          command: ['tandem'],
          args: ['iptables', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'],
          resources: RESOURCES,
          securityContext: {
            allowPrivilegeEscalation: false,
            capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
            privileged: false,
            readOnlyRootFilesystem: false,
            runAsGroup: 0,
            runAsNonRoot: false,
            runAsUser: 0,
          },
        },
        {
          name: 'istio-proxy',
          image: 'docker.io/envoyproxy/envoy:v1.36.2',
          command: ['envoy'],
          args: [
            '--config-yaml', bootstrap, '--log-level', 'warning', '--concurrency', '2',
            '--drain-time-s', '5', '--drain-strategy', 'immediate', '--disable-hot-restart',
          ],
          env: DOWNWARD_ENV,
          lifecycle: { preStop: { exec: { command: ['bash', '-c', DRAIN_5S] } } },
          ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
          readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 },
          startupProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 },
          resources: RESOURCES,
          securityContext: {
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            privileged: false,
            readOnlyRootFilesystem: true,
            runAsGroup: 1337,
            runAsNonRoot: true,
            runAsUser: 1337,
          },
          volumeMounts: [
            { name: 'istio-envoy', mountPath: '/etc/istio/proxy' },
            { name: 'istio-data', mountPath: '/var/lib/istio/data' },
            { name: 'istio-podinfo', mountPath: '/etc/istio/pod' },
          ],
          restartPolicy: 'Always',
        },
      ],
      volumes: [
        { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
        { name: 'istio-data', emptyDir: {} },
        {
          name: 'istio-podinfo',
          downwardAPI: {
            items: [
              { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
              { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
            ],
          },
        },
      ],
    },
  });
  t.same(podProblems(out.pod), [], 'valid against the strict schema and kubernetes-models');
  const args = out.pod.spec?.initContainers?.[1]?.args ?? [];
  const boot = JSON.parse(args[1] as string) as Record<string, unknown>;
  t.match(JSON.stringify(boot), /\$\(POD_NAME\)/, 'the bootstrap leaves $(POD_NAME) for the kubelet');
});

t.test('skipped pods come back as the same object, no warnings', async (t) => {
  const inj = await injector();
  const p = basicPod({ annotations: { 'sidecar.istio.io/inject': 'false' } });
  const out = injectPod(p, manual(), inj);
  t.equal(out.pod, p);
  t.equal(out.decision.inject, false);
  t.same(out.warnings, []);
});

t.test('classic layout (nativeSidecars: false): istio-init after app init containers, proxy last container', async (t) => {
  const inj = await injector({ nativeSidecars: false });
  const p = basicPod();
  p.spec!.initContainers = [{ name: 'migrate', image: 'db' }];
  p.spec!.containers.push({ name: 'worker', image: 'w' });
  const out = injectPod(p, manual(), inj).pod;
  t.same(out.spec?.initContainers?.map((c) => c.name), ['migrate', 'istio-init']);
  t.same(out.spec?.containers.map((c) => c.name), ['app', 'worker', 'istio-proxy']);
  t.equal(out.spec?.containers[2]?.restartPolicy, undefined, 'a regular container has no restartPolicy');
  t.same(out.spec?.initContainers?.[0], { name: 'migrate', image: 'db' }, 'app init container unchanged');
  t.same(out.spec?.containers.slice(0, 2), p.spec!.containers, 'app containers unchanged');
  t.same(parseStatus(out.metadata?.annotations?.['sidecar.istio.io/status']), { initContainers: ['istio-init'], containers: ['istio-proxy'], volumes: ['istio-envoy', 'istio-data', 'istio-podinfo'], imagePullSecrets: null, revision: 'default' });
  t.same(injectPod(out, manual(), inj).pod, out, 'classic injection is idempotent');
});

t.test('native layout: proxy before the app init containers', async (t) => {
  const inj = await injector();
  const p = basicPod();
  p.spec!.initContainers = [{ name: 'migrate', image: 'db' }];
  const out = injectPod(p, manual(), inj).pod;
  t.same(out.spec?.initContainers?.map((c) => [c.name, c.restartPolicy]), [['istio-init', undefined], ['istio-proxy', 'Always'], ['migrate', undefined]]);
  t.same(out.spec?.containers.map((c) => c.name), ['app']);
});

t.test('sidecar.istio.io/nativeSidecar overrides the config both ways', async (t) => {
  const native = await injector();
  const classic = await injector({ nativeSidecars: false });
  const optOut = injectPod(basicPod({ annotations: { 'sidecar.istio.io/nativeSidecar': 'false' } }), manual(), native).pod;
  t.same(optOut.spec?.containers.map((c) => c.name), ['app', 'istio-proxy']);
  const optIn = injectPod(basicPod({ annotations: { 'sidecar.istio.io/nativeSidecar': 'true' } }), manual(), classic).pod;
  t.same(optIn.spec?.initContainers?.map((c) => c.name), ['istio-init', 'istio-proxy']);
  t.throws(() => injectPod(basicPod({ annotations: { 'sidecar.istio.io/nativeSidecar': 'sometimes' } }), manual(), native), {
    name: 'UserError',
    message: 'invalid annotation sidecar.istio.io/nativeSidecar="sometimes": expected "true" or "false"',
  });
});

t.test('re-injection removes exactly what the status annotation lists', async (t) => {
  const inj = await injector();
  const p = basicPod();
  p.metadata!.annotations = {
    'sidecar.istio.io/status': JSON.stringify({ initContainers: ['old-init'], containers: ['old-proxy'], volumes: ['old-vol'], imagePullSecrets: ['old-secret'], revision: 'x' }),
  };
  p.spec!.initContainers = [{ name: 'old-init', image: 'i' }, { name: 'keep-init', image: 'k' }];
  p.spec!.containers.push({ name: 'old-proxy', image: 'p' });
  p.spec!.volumes = [{ name: 'old-vol', emptyDir: {} }, { name: 'data', emptyDir: {} }];
  p.spec!.imagePullSecrets = [{ name: 'old-secret' }];
  const out = injectPod(p, manual(), inj);
  t.match(out.decision.reason, /already injected/);
  t.same(out.pod.spec?.initContainers?.map((c) => c.name), ['istio-init', 'istio-proxy', 'keep-init']);
  t.same(out.pod.spec?.containers.map((c) => c.name), ['app']);
  t.same(out.pod.spec?.volumes?.map((v) => v.name), ['data', 'istio-envoy', 'istio-data', 'istio-podinfo']);
  t.equal(out.pod.spec?.imagePullSecrets, undefined);
  t.same(injectPod(out.pod, manual(), inj).pod, out.pod, 'and again changes nothing');

  const broken = basicPod({ annotations: { 'sidecar.istio.io/status': 'not json' } });
  broken.spec!.containers.push({ name: 'istio-proxy', image: 'stale' });
  const fixed = injectPod(broken, manual(), inj);
  t.match(fixed.warnings[0], /not valid JSON/);
  t.same(fixed.pod.spec?.containers.map((c) => c.name), ['app']);
});

t.test('labels and annotations Istio adds, without overwriting the user', async (t) => {
  const inj = await injector();
  const meta = (p: Pod) => injectPod(p, manual(), inj).pod.metadata!;
  t.same(
    [meta(basicPod({ labels: { 'app.kubernetes.io/name': 'shopfront', app: 'web', 'app.kubernetes.io/version': '1.2' } })).labels?.['service.istio.io/canonical-name'], meta(basicPod({ labels: { 'app.kubernetes.io/version': '1.2', version: 'v9' } })).labels?.['service.istio.io/canonical-revision']],
    ['shopfront', '1.2'],
  );
  const preset = meta(basicPod({ labels: { 'service.istio.io/canonical-name': 'mine', 'service.istio.io/canonical-revision': 'r1', 'security.istio.io/tlsMode': 'disabled' }, annotations: { 'kubectl.kubernetes.io/default-container': 'other' } }));
  t.equal(preset.labels?.['service.istio.io/canonical-name'], 'mine');
  t.equal(preset.labels?.['service.istio.io/canonical-revision'], 'r1');
  t.equal(preset.labels?.['security.istio.io/tlsMode'], 'disabled');
  t.equal(preset.annotations?.['kubectl.kubernetes.io/default-container'], 'other');
  t.equal(preset.annotations?.['kubectl.kubernetes.io/default-logs-container'], 'app');
  // No labels at all: the pod's name.
  t.equal(meta(basicPod()).labels?.['service.istio.io/canonical-name'], 'web');
  t.equal(meta(basicPod()).labels?.['service.istio.io/canonical-revision'], 'latest');
});

t.test('workload name as Istio derives it', async (t) => {
  const owned = (kind: string, name: string, labels?: Record<string, string>): Pod => ({
    metadata: { name: 'x-abc', ...(labels ? { labels } : {}), ownerReferences: [{ apiVersion: 'v1', kind, name, uid: 'u', controller: true }] },
  });
  t.same(workloadOf(owned('ReplicaSet', 'shop-7d9f8c', { 'pod-template-hash': '7d9f8c' })), { kind: 'Deployment', name: 'shop' });
  t.same(workloadOf(owned('ReplicaSet', 'bare-rs')), { kind: 'ReplicaSet', name: 'bare-rs' });
  t.same(workloadOf(owned('Job', 'nightly-29123456')), { kind: 'CronJob', name: 'nightly' });
  t.same(workloadOf(owned('Job', 'once')), { kind: 'Job', name: 'once' });
  t.same(workloadOf(owned('StatefulSet', 'db')), { kind: 'StatefulSet', name: 'db' });
  t.same(workloadOf({ metadata: { generateName: 'batch-' } }), { kind: 'Pod', name: 'batch' });
  t.same(workloadOf({ metadata: { name: 'solo' } }), { kind: 'Pod', name: 'solo' });
  t.equal(truncateLabelValue('a'.repeat(62) + '-b'), 'a'.repeat(62));
  t.equal(truncateLabelValue('a'.repeat(70)).length, 63);
  t.same(canonicalLabels({ app: 'a', version: 'v' }, { kind: 'Pod', name: 'p' }), { name: 'a', revision: 'v' });
});

t.test('traffic annotations become istio-iptables flags', async (t) => {
  const inj = await injector();
  const args = (annotations: Record<string, string>): string[] => injectPod(basicPod({ annotations }), manual(), inj).pod.spec?.initContainers?.[0]?.args ?? [];
  t.same(
    args({
      'traffic.sidecar.istio.io/includeInboundPorts': '1,2,3',
      'traffic.sidecar.istio.io/excludeInboundPorts': '4, 5,6',
      'traffic.sidecar.istio.io/excludeOutboundPorts': '7,8,9',
      'traffic.sidecar.istio.io/includeOutboundPorts': '443',
      'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.0/8,fd00::/8',
      'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.1/32',
      'traffic.sidecar.istio.io/kubevirtInterfaces': 'net1',
    }),
    ['iptables', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '10.0.0.0/8,fd00::/8', '-x', '10.96.0.1/32', '-b', '1,2,3', '-d', '15090,15021,4,5,6,15020', '-o', '7,8,9', '-q', '443', '-k', 'net1'],
  );
  t.same(args({ 'traffic.sidecar.istio.io/includeInboundPorts': '', 'traffic.sidecar.istio.io/includeOutboundIPRanges': '' }).slice(9, 15), ['-i', '', '-x', '', '-b', '']);
  t.same(args({ 'istio.io/reroute-virtual-interfaces': 'net0', 'traffic.sidecar.istio.io/kubevirtInterfaces': 'net1' }).slice(-2), ['-k', 'net0']);
  t.same(args({ 'sidecar.istio.io/interceptionMode': 'TPROXY' }).slice(7, 9), ['-m', 'TPROXY']);

  const tproxy = injectPod(basicPod({ annotations: { 'sidecar.istio.io/interceptionMode': 'TPROXY' } }), manual(), inj).pod.spec?.initContainers?.[1]?.securityContext;
  t.same([tproxy?.runAsUser, tproxy?.runAsNonRoot, tproxy?.capabilities?.add], [0, false, ['NET_ADMIN']], 'TPROXY proxy runs as root with NET_ADMIN, as Istio');
  const none = injectPod(basicPod({ annotations: { 'sidecar.istio.io/interceptionMode': 'NONE' } }), manual(), inj).pod;
  t.same(none.spec?.initContainers?.map((c) => c.name), ['istio-proxy'], 'interceptionMode NONE: no capture init container');
  t.same(parseStatus(none.metadata?.annotations?.['sidecar.istio.io/status'])?.initContainers, ['istio-proxy']);
});

t.test('an invalid annotation value is a UserError naming annotation and value', async (t) => {
  const inj = await injector();
  const cases: Array<[string, string, RegExp]> = [
    ['traffic.sidecar.istio.io/includeOutboundIPRanges', '10.0.0.0/33', /is not a CIDR/],
    ['traffic.sidecar.istio.io/includeOutboundIPRanges', 'bad', /is not a CIDR/],
    ['traffic.sidecar.istio.io/excludeOutboundIPRanges', '*', /is not a CIDR/],
    ['traffic.sidecar.istio.io/includeInboundPorts', '80,http', /"http" is not a port/],
    ['traffic.sidecar.istio.io/excludeInboundPorts', '*', /is not a port/],
    ['traffic.sidecar.istio.io/excludeOutboundPorts', '70000', /"70000" is not a port/],
    ['traffic.sidecar.istio.io/includeOutboundPorts', '0', /"0" is not a port/],
    ['traffic.sidecar.istio.io/kubevirtInterfaces', 'a b', /not a network interface name/],
    ['istio.io/reroute-virtual-interfaces', 'x/y', /not a network interface name/],
    ['sidecar.istio.io/interceptionMode', 'redirect', /is not one of REDIRECT, TPROXY, NONE/],
    ['sidecar.istio.io/proxyCPU', 'lots', /not a Kubernetes quantity/],
    ['sidecar.istio.io/proxyMemoryLimit', '1GB', /not a Kubernetes quantity/],
  ];
  for (const [key, value, why] of cases) {
    let err: unknown;
    try {
      injectPod(basicPod({ annotations: { [key]: value } }), manual(), inj);
    } catch (e) {
      err = e;
    }
    t.type(err, UserError, `${key}=${value}`);
    t.match((err as Error).message, `invalid annotation ${key}="${value}"`, `${key}: names annotation and value`);
    t.match((err as Error).message, why, `${key}: says why`);
  }
});

t.test('resource annotations set the sidecar (and capture) resources; no default is mixed in', async (t) => {
  const inj = await injector();
  const res = (annotations: Record<string, string>) => {
    const p = injectPod(basicPod({ annotations }), manual(), inj).pod;
    return [p.spec?.initContainers?.[0]?.resources, p.spec?.initContainers?.[1]?.resources];
  };
  const all = { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } };
  t.same(res({ 'sidecar.istio.io/proxyCPU': '250m', 'sidecar.istio.io/proxyMemory': '256Mi', 'sidecar.istio.io/proxyCPULimit': '1', 'sidecar.istio.io/proxyMemoryLimit': '512Mi' }), [all, all]);
  t.same(res({ 'sidecar.istio.io/proxyCPU': '4000m' }), [{ requests: { cpu: '4000m' } }, { requests: { cpu: '4000m' } }]);
  t.same(res({ 'sidecar.istio.io/proxyMemoryLimit': '1Gi' }), [{ limits: { memory: '1Gi' } }, { limits: { memory: '1Gi' } }]);
  t.same(res({}), [RESOURCES, RESOURCES], 'defaults from the config');
});

t.test("a user's istio-proxy container is merged over the injected one and survives re-injection", async (t) => {
  const inj = await injector();
  const p = basicPod();
  p.spec!.containers.push({
    name: 'istio-proxy',
    image: 'auto',
    resources: { limits: { cpu: '3' } },
    env: [{ name: 'POD_NAME', value: 'fixed' }, { name: 'EXTRA', value: '1' }],
    securityContext: { runAsUser: 1234 },
    volumeMounts: [{ name: 'certs', mountPath: '/etc/certs' }],
  });
  p.spec!.volumes = [{ name: 'certs', secret: { secretName: 'c' } }];
  const out = injectPod(p, manual(), inj).pod;
  const proxy = out.spec?.initContainers?.find((c) => c.name === 'istio-proxy');
  t.equal(proxy?.image, 'docker.io/envoyproxy/envoy:v1.36.2', 'image "auto" keeps the injected image');
  t.same(proxy?.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '3', memory: '1Gi' } });
  t.same(proxy?.env?.map((e) => [e.name, e.value]), [['POD_NAME', 'fixed'], ['POD_NAMESPACE', undefined], ['INSTANCE_IP', undefined], ['SERVICE_ACCOUNT', undefined], ['HOST_IP', undefined], ['EXTRA', '1']]);
  t.equal(proxy?.securityContext?.runAsUser, 1234);
  t.equal(proxy?.securityContext?.readOnlyRootFilesystem, true, 'fields the user did not set stay injected');
  t.same(proxy?.volumeMounts?.map((m) => m.name), ['istio-envoy', 'istio-data', 'istio-podinfo', 'certs']);
  t.same(out.spec?.initContainers?.[0]?.args?.slice(5, 7), ['-u', '1234'], 'capture exempts the uid the proxy really runs as');
  t.same(out.spec?.containers.map((c) => c.name), ['app']);
  t.ok(out.metadata?.annotations?.[OVERRIDES_ANNOTATION], 'the user container is kept in proxy.istio.io/overrides');
  t.same(injectPod(out, manual(), inj).pod, out, 're-injection gives the same pod');
});

t.test('warnings for what is not honoured; an unknown template is an error', async (t) => {
  const inj = await injector();
  t.throws(() => injectPod(basicPod({ annotations: { 'inject.istio.io/templates': 'gateway' } }), manual(), inj), {
    name: 'UserError',
    message: 'invalid annotation inject.istio.io/templates="gateway": unknown template "gateway" (available: sidecar, grpc)',
  });
  t.same(injectPod(basicPod({ annotations: { 'inject.istio.io/templates': 'sidecar' } }), manual(), inj).warnings, []);
  const p = basicPod();
  p.spec!.volumes = [{ name: 'istio-data', hostPath: { path: '/x' } }];
  const out = injectPod(p, manual(), inj);
  t.match(out.warnings[0], /pod volumes istio-data replaced/);
  t.same(out.pod.spec?.volumes?.find((v) => v.name === 'istio-data'), { name: 'istio-data', emptyDir: {} });
});

t.test('proxy image and Envoy log levels per pod', async (t) => {
  const inj = await injector();
  const proxy = (annotations: Record<string, string>) => injectPod(basicPod({ annotations }), manual(), inj).pod.spec?.initContainers?.[1];
  const p = proxy({ 'sidecar.istio.io/proxyImage': 'registry.local/envoy:debug', 'sidecar.istio.io/logLevel': 'debug', 'sidecar.istio.io/componentLogLevel': 'misc:error, upstream:trace' });
  t.equal(p?.image, 'registry.local/envoy:debug');
  t.same(p?.args?.slice(2), [
    '--log-level', 'debug', '--component-log-level', 'misc:error,upstream:trace', '--concurrency', '2',
    '--drain-time-s', '5', '--drain-strategy', 'immediate', '--disable-hot-restart',
  ]);
  t.same(proxy({})?.args?.slice(2, 5), ['--log-level', 'warning', '--concurrency'], 'no --component-log-level by default');
  const bad: Array<[string, string, RegExp]> = [
    ['sidecar.istio.io/logLevel', 'loud', /must be one of trace, debug, info, warning, warn, error, critical, off/],
    ['sidecar.istio.io/componentLogLevel', 'misc', /"misc" is not component:level/],
    ['sidecar.istio.io/componentLogLevel', 'misc:noisy', /"noisy" is not one of/],
    ['sidecar.istio.io/proxyImage', ' ', /must name an image/],
  ];
  for (const [key, value, why] of bad) {
    t.throws(() => proxy({ [key]: value }), { name: 'UserError', message: why }, `${key}=${value}`);
    t.throws(() => proxy({ [key]: value }), { message: `invalid annotation ${key}="${value}"` });
  }
  const cfg = await injector({ proxy: { componentLogLevel: 'misc:error' } });
  t.same(injectPod(basicPod(), manual(), cfg).pod.spec?.initContainers?.[1]?.args?.slice(4, 6), ['--component-log-level', 'misc:error'], 'config default');
  t.same(injectPod(basicPod({ annotations: { 'sidecar.istio.io/componentLogLevel': '' } }), manual(), cfg).pod.spec?.initContainers?.[1]?.args?.slice(4, 6), ['--concurrency', '2'], 'an empty annotation turns it off');
  await t.rejects(injector({ proxy: { componentLogLevel: 'misc=error' } }), { name: 'UserError', message: /proxy\.componentLogLevel: "misc=error" is not component:level/ });
});
