import type { V1Container } from '@kubernetes/client-node';
import t from 'tap';
import { DEFAULT_XDS_ADDRESS, renderBootstrap } from '../../bootstrap/sidecar.js';
import { DEFAULT_CONFIG } from '../../inject/config.js';
import { injectPod } from '../../inject/injector.js';
import { rewriteAppProbesCopying } from '../../inject/probes.js';
import { parseDuration } from '../../config/mesh/proxy-config.js';
import type { Pod } from '../../inject/types.js';
import { basicPod, injector, manual, podProblems } from './helpers.js';

/**
 * Golden tests for the per-pod annotations of issue 4 items 4, 5 and 7: probe
 * rewrite, ProxyConfig (startup/shutdown), Prometheus merge. Expected values
 * are written by hand from Istio's documented behaviour and test data.
 */

const proxyOf = (p: Pod): V1Container | undefined => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((c) => c.name === 'istio-proxy');
const envOf = (c: V1Container | undefined, name: string) => c?.env?.find((e) => e.name === name)?.value;
const appOf = (p: Pod, name = 'app') => p.spec?.containers.find((c) => c.name === name);

function probePod(annotations: Record<string, string> = {}): Pod {
  return {
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' }, annotations },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'shop/web:1',
          ports: [{ containerPort: 8080, name: 'http' }, { containerPort: 8443, name: 'https' }],
          readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 },
          livenessProbe: { httpGet: { path: '/live', port: 8443, scheme: 'HTTPS', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, timeoutSeconds: 2 },
          startupProbe: { tcpSocket: { port: 8080 }, failureThreshold: 30 },
        },
        { name: 'side', image: 'shop/side:1', readinessProbe: { exec: { command: ['true'] } }, livenessProbe: { grpc: { port: 9000 } } },
      ],
    },
  };
}

t.test('item 0: the default xDS address is the shipped tandem-xds Service', async (t) => {
  t.equal(DEFAULT_CONFIG.xdsAddress, 'tandem-xds.tandem-system.svc:15010');
  t.equal(DEFAULT_CONFIG.xdsAddress, DEFAULT_XDS_ADDRESS);
});

t.test('probe rewrite: httpGet probes go to :15020/app-health/<container>/<kind>, originals to the sidecar and the bootstrap', async (t) => {
  const inj = await injector();
  const input = probePod();
  const out = injectPod(input, manual('shop'), inj).pod;
  t.same(podProblems(out), []);
  t.same(appOf(out)?.readinessProbe, { httpGet: { path: '/app-health/app/readyz', port: 15020 }, periodSeconds: 5 }, 'named port probe rewritten, timings kept');
  t.same(
    appOf(out)?.livenessProbe,
    { httpGet: { path: '/app-health/app/livez', port: 15020, scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, timeoutSeconds: 2 },
    'HTTPS becomes HTTP to the proxy (the proxy speaks HTTPS to the app)',
  );
  t.same(appOf(out)?.startupProbe, { httpGet: { path: '/app-health/app/startupz', port: 15020 }, failureThreshold: 30 }, 'tcpSocket: rewritten, the proxy answers from its connect check');
  t.same(appOf(out, 'side')?.readinessProbe, { exec: { command: ['true'] } }, 'exec: never rewritten');
  t.same(appOf(out, 'side')?.livenessProbe, { httpGet: { path: '/app-health/side/livez', port: 15020 } }, 'grpc: rewritten, the proxy sends the gRPC health check');
  const probers =
    '{"/app-health/app/livez":{"httpGet":{"path":"/live","port":8443,"scheme":"HTTPS","httpHeaders":[{"name":"X-Probe","value":"1"}]},"timeoutSeconds":2},' +
    '"/app-health/app/readyz":{"httpGet":{"path":"/ready","port":8080}},' +
    '"/app-health/app/startupz":{"tcpSocket":{"port":8080}},' +
    '"/app-health/side/livez":{"grpc":{"port":9000}}}';
  t.equal(envOf(proxyOf(out), 'ISTIO_KUBE_APP_PROBERS'), probers, "Istio's JSON: sorted keys, named port resolved");

  // The bootstrap on the proxy's command line serves exactly those paths.
  const boot = JSON.parse(proxyOf(out)?.args?.[1] as string) as { static_resources: { listeners: Array<{ name: string; filter_chains: Array<{ filters: Array<{ typed_config: { route_config: { virtual_hosts: Array<{ routes: Array<{ match: { path: string }; route: { cluster: string; prefix_rewrite?: string; timeout?: string } }> }> } } }> }> }> } };
  const agent = boot.static_resources.listeners.find((l) => l.name === 'tandem-agent-15020');
  const routes = agent?.filter_chains[0]?.filters[0]?.typed_config.route_config.virtual_hosts[0]?.routes ?? [];
  const byPath = Object.fromEntries(routes.map((r) => [r.match.path, r.route]));
  t.match(byPath['/app-health/app/readyz'], { cluster: 'tandem-app-probe|http|8080', prefix_rewrite: '/ready' });
  t.match(byPath['/app-health/app/livez'], { cluster: 'tandem-app-probe|https|8443', prefix_rewrite: '/live', timeout: '2s' });
  // TCP and gRPC probes are answered by filters (health_check, Lua); their routes only catch a
  // request no filter answered, and then fail the probe rather than pass it.
  const answered = Object.fromEntries(routes.map((r) => [r.match.path, r as unknown as { direct_response?: { status: number } }]));
  t.equal(answered['/app-health/app/startupz']?.direct_response?.status, 503, 'the TCP probe path is routed on the status port, failing closed');
  t.equal(answered['/app-health/side/livez']?.direct_response?.status, 503, 'and so is the gRPC probe path');
  const labels = out.metadata?.labels as Record<string, string>;
  t.same(
    boot,
    renderBootstrap({
      podName: '$(POD_NAME)', podNamespace: '$(POD_NAMESPACE)', podIp: '$(INSTANCE_IP)', serviceAccount: '$(SERVICE_ACCOUNT)',
      xdsAddress: DEFAULT_XDS_ADDRESS, clusterId: 'Kubernetes', meshId: 'cluster.local', labels, appPorts: [8080, 8443],
      appProbes: JSON.parse(probers) as Record<string, unknown>,
    }),
    'appProbes passed to renderBootstrap as parsed',
  );
  t.not(appOf(input)?.readinessProbe?.httpGet?.port, 15020, 'the input pod is not mutated');

  const again = injectPod(out, manual('shop'), inj).pod;
  t.same(again, out, 're-injecting keeps the probes and their recorded originals');
});

t.test("probe mapping when the proxy can serve everything: Istio's tcpSocket, grpc and lifecycle hook rewrite", async (t) => {
  const containers: V1Container[] = [
    {
      name: 'app',
      image: 'a',
      ports: [{ containerPort: 9000, name: 'grpc' }],
      startupProbe: { tcpSocket: { port: 8080 }, failureThreshold: 30 },
      livenessProbe: { grpc: { port: 9000, service: 'health' }, timeoutSeconds: 3 },
      readinessProbe: { httpGet: { port: 'nope' } },
      lifecycle: { postStart: { tcpSocket: { port: 'grpc' } }, preStop: { exec: { command: ['sleep', '1'] } } },
    },
  ];
  const { probers, replaced } = rewriteAppProbesCopying(containers, 'istio-proxy', {}, () => true);
  t.same(probers, {
    '/app-health/app/startupz': { tcpSocket: { port: 8080 } },
    '/app-health/app/livez': { grpc: { port: 9000, service: 'health' }, timeoutSeconds: 3 },
    '/app-lifecycle/app/poststartz': { tcpSocket: { port: 9000 } },
  });
  const c = replaced.get(containers[0] as V1Container) as V1Container;
  t.ok(c, 'the app container is replaced');
  t.same(c.startupProbe, { httpGet: { path: '/app-health/app/startupz', port: 15020 }, failureThreshold: 30 });
  t.same(c.livenessProbe, { httpGet: { path: '/app-health/app/livez', port: 15020 }, timeoutSeconds: 3 });
  t.same(c.readinessProbe, { httpGet: { port: 'nope' } }, 'a named port the container does not have: left alone');
  t.same(c.lifecycle, { postStart: { httpGet: { path: '/app-lifecycle/app/poststartz', port: 15020 } }, preStop: { exec: { command: ['sleep', '1'] } } });
});

t.test('probe rewrite off: annotation, injector config; invalid annotation values', async (t) => {
  const inj = await injector();
  for (const v of ['false', 'False', '0', 'off']) {
    const out = injectPod(probePod({ 'sidecar.istio.io/rewriteAppHTTPProbers': v }), manual(), inj).pod;
    t.same(appOf(out)?.readinessProbe, { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 }, `${v}: untouched`);
    t.equal(envOf(proxyOf(out), 'ISTIO_KUBE_APP_PROBERS'), undefined, `${v}: no ISTIO_KUBE_APP_PROBERS`);
  }
  const off = await injector({ rewriteAppHTTPProbers: false });
  t.same(appOf(injectPod(probePod(), manual(), off).pod)?.readinessProbe?.httpGet?.port, 'http', 'config off');
  t.same(appOf(injectPod(probePod({ 'sidecar.istio.io/rewriteAppHTTPProbers': 'true' }), manual(), off).pod)?.readinessProbe?.httpGet?.port, 15020, 'annotation on beats config off');
  t.throws(() => injectPod(probePod({ 'sidecar.istio.io/rewriteAppHTTPProbers': 'maybe' }), manual(), inj), {
    name: 'UserError',
    message: 'invalid annotation sidecar.istio.io/rewriteAppHTTPProbers="maybe": expected "true" or "false"',
  });
  await t.rejects(injector({ rewriteAppHTTPProbers: 'yes' }), { name: 'UserError', message: 'injector config: rewriteAppHTTPProbers: must be true or false' });
});

t.test('Prometheus merge: scrape annotations point at the proxy, the original target goes to the sidecar', async (t) => {
  const inj = await injector();
  const pod = basicPod({ annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', 'prometheus.io/path': '/metrics', team: 'shop' } });
  const r = injectPod(pod, manual(), inj);
  const a = r.pod.metadata?.annotations ?? {};
  t.same([a['prometheus.io/scrape'], a['prometheus.io/port'], a['prometheus.io/path'], a.team], ['true', '15020', '/stats/prometheus', 'shop']);
  t.equal(envOf(proxyOf(r.pod), 'ISTIO_PROMETHEUS_ANNOTATIONS'), '{"scrape":"true","path":"/metrics","port":"9090"}');
  t.notMatch(r.warnings.join('\n'), /prometheus/i, 'no warning: the proxy merges the app metrics on :15020');
  const boot = JSON.parse(proxyOf(r.pod)?.args?.[1] as string) as { static_resources: { clusters: Array<{ name: string }> } };
  t.ok(boot.static_resources.clusters.some((c) => c.name === 'tandem-app-metrics|9090'), "the bootstrap fetches the app's metrics from its original port");
  t.same(injectPod(r.pod, manual(), inj).pod, r.pod, 're-injection keeps the original target');

  // Prometheus' own spelling variants count as the same annotation.
  const dotted = injectPod(basicPod({ annotations: { 'prometheus.io.port': '7070' } }), manual(), inj).pod;
  t.equal(dotted.metadata?.annotations?.['prometheus.io.port'], undefined, 'the variant is replaced');
  t.equal(envOf(proxyOf(dotted), 'ISTIO_PROMETHEUS_ANNOTATIONS'), '{"scrape":"","path":"","port":"7070"}');

  const targets = injectPod(basicPod({ annotations: { 'prometheus.istio.io/scrape-targets': '8080:/metrics, 9100:/custom' } }), manual(), inj).pod;
  t.equal(targets.metadata?.annotations?.['prometheus.istio.io/scrape-targets'], undefined);
  t.equal(
    envOf(proxyOf(targets), 'ISTIO_PROMETHEUS_ANNOTATIONS'),
    '{"scrape":"","path":"/metrics","port":"8080","targets":[{"port":"8080","path":"/metrics"},{"port":"9100","path":"/custom"}]}',
  );

  const plain = injectPod(basicPod(), manual(), inj);
  t.equal(envOf(proxyOf(plain.pod), 'ISTIO_PROMETHEUS_ANNOTATIONS'), undefined, 'no target of its own: nothing to pass');
  t.equal(plain.pod.metadata?.annotations?.['prometheus.io/port'], '15020', 'but the proxy is scraped');
  t.same(plain.warnings, []);
});

t.test('Prometheus merge off: annotation, scrape false, injector config; invalid values', async (t) => {
  const inj = await injector();
  const cases: Record<string, string>[] = [{ 'prometheus.istio.io/merge-metrics': 'false', 'prometheus.io/port': '9090' }, { 'prometheus.io/scrape': 'false' }, { 'prometheus.io.scrape': 'false' }];
  for (const annotations of cases) {
    const out = injectPod(basicPod({ annotations }), manual(), inj).pod;
    const prom = Object.fromEntries(Object.entries(out.metadata?.annotations ?? {}).filter(([k]) => k.startsWith('prometheus')));
    t.same(prom, annotations, `${JSON.stringify(annotations)}: left as written`);
    t.equal(envOf(proxyOf(out), 'ISTIO_PROMETHEUS_ANNOTATIONS'), undefined);
  }
  const off = await injector({ enablePrometheusMerge: false });
  t.equal(injectPod(basicPod(), manual(), off).pod.metadata?.annotations?.['prometheus.io/port'], undefined, 'config off: nothing added');
  t.equal(injectPod(basicPod({ annotations: { 'prometheus.istio.io/merge-metrics': 'true' } }), manual(), off).pod.metadata?.annotations?.['prometheus.io/port'], '15020', 'annotation on beats config off');
  t.throws(() => injectPod(basicPod({ annotations: { 'prometheus.istio.io/merge-metrics': 'sometimes' } }), manual(), inj), {
    name: 'UserError',
    message: 'invalid annotation prometheus.istio.io/merge-metrics="sometimes": expected "true" or "false"',
  });
  t.throws(() => injectPod(basicPod({ annotations: { 'prometheus.istio.io/scrape-targets': '8080:/m,x:/y' } }), manual(), inj), {
    name: 'UserError',
    message: 'invalid annotation prometheus.istio.io/scrape-targets="8080:/m,x:/y": "x:/y" is not PORT or PORT:/PATH',
  });
});

const WAIT_READY = [
  'for _ in {1..60}; do',
  "  if (exec 3<>/dev/tcp/127.0.0.1/15021 && printf 'GET /healthz/ready HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == *' 200 '* ]]) 2>/dev/null; then exit 0; fi",
  '  sleep 1',
  'done',
  'echo "proxy not ready on :15021/healthz/ready after 60s" >&2',
  'exit 1',
].join('\n');
const drain = (s: number) =>
  "(exec 3<>/dev/tcp/127.0.0.1/15000 && printf 'POST /drain_listeners?inboundonly&graceful HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r _ <&3) 2>/dev/null\n" +
  `sleep ${s}`;

t.test('holdApplicationUntilProxyStarts: classic sidecar first with a postStart wait; native sidecar already holds', async (t) => {
  const classic = await injector({ nativeSidecars: false });
  const hold = { 'proxy.istio.io/config': '{ "holdApplicationUntilProxyStarts": true }' };
  const out = injectPod(basicPod({ annotations: hold }), manual(), classic).pod;
  t.same(out.spec?.containers.map((c) => c.name), ['istio-proxy', 'app'], 'the proxy is the first container');
  t.same(proxyOf(out)?.lifecycle, { postStart: { exec: { command: ['bash', '-c', WAIT_READY] } }, preStop: { exec: { command: ['bash', '-c', drain(5)] } } });
  t.equal(out.metadata?.annotations?.['kubectl.kubernetes.io/default-container'], 'app', 'default container is still the app');
  t.same(podProblems(out), []);
  t.same(injectPod(out, manual(), classic).pod, out, 're-injection is stable');
  const notHeld = injectPod(basicPod(), manual(), classic).pod;
  t.same(notHeld.spec?.containers.map((c) => c.name), ['app', 'istio-proxy'], 'without hold: last, as Istio');
  t.equal(proxyOf(notHeld)?.lifecycle?.postStart, undefined);

  const native = await injector();
  const n = injectPod(basicPod({ annotations: hold }), manual(), native).pod;
  t.same(n.spec?.initContainers?.map((c) => c.name), ['istio-init', 'istio-proxy']);
  t.equal(proxyOf(n)?.lifecycle?.postStart, undefined, "native: the sidecar's startupProbe holds the app, no hook");
  t.same(proxyOf(n)?.startupProbe?.httpGet, { path: '/healthz/ready', port: 15021 });

  const meshHold = await injector({ nativeSidecars: false, proxyConfig: { holdApplicationUntilProxyStarts: true } });
  t.same(injectPod(basicPod(), manual(), meshHold).pod.spec?.containers.map((c) => c.name), ['istio-proxy', 'app'], 'mesh-wide default');
  t.same(
    injectPod(basicPod({ annotations: { 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: false' } }), manual(), meshHold).pod.spec?.containers.map((c) => c.name),
    ['app', 'istio-proxy'],
    'the pod annotation (YAML) turns the mesh default off',
  );
});

t.test('ProxyConfig: concurrency, terminationDrainDuration, proxyMetadata; annotation over the mesh default', async (t) => {
  const inj = await injector();
  const yaml = 'concurrency: 0\nterminationDrainDuration: 30s\nproxyMetadata:\n  ISTIO_META_DNS_CAPTURE: "true"\n  POD_NAME: mine\n';
  const p = proxyOf(injectPod(basicPod({ annotations: { 'proxy.istio.io/config': yaml } }), manual(), inj).pod);
  t.same(p?.args?.slice(2), ['--log-level', 'warning', '--drain-time-s', '30', '--drain-strategy', 'immediate', '--disable-hot-restart'], 'concurrency 0: Envoy uses every core (no flag)');
  t.same(p?.lifecycle, { preStop: { exec: { command: ['bash', '-c', drain(30)] } } });
  t.equal(envOf(p, 'ISTIO_META_DNS_CAPTURE'), 'true');
  t.equal(envOf(p, 'POD_NAME'), 'mine', 'proxyMetadata replaces a variable of the same name');
  t.equal(p?.env?.filter((e) => e.name === 'POD_NAME').length, 1, 'never twice');

  const mesh = await injector({ proxyConfig: { concurrency: 4, terminationDrainDuration: '1m30s', proxyMetadata: { A: 'mesh', B: 'mesh' } } });
  const m = proxyOf(injectPod(basicPod(), manual(), mesh).pod);
  t.same(m?.args?.slice(4, 10), ['--concurrency', '4', '--drain-time-s', '90', '--drain-strategy', 'immediate']);
  const o = proxyOf(injectPod(basicPod({ annotations: { 'proxy.istio.io/config': '{"concurrency": 1, "proxyMetadata": {"B": "pod"}}' } }), manual(), mesh).pod);
  t.same(o?.args?.slice(4, 8), ['--concurrency', '1', '--drain-time-s', '90'], 'field by field: concurrency from the pod, drain from the mesh');
  t.same([envOf(o, 'A'), envOf(o, 'B')], ['mesh', 'pod'], 'proxyMetadata merged key by key');

  const noDrain = proxyOf(injectPod(basicPod({ annotations: { 'proxy.istio.io/config': 'terminationDrainDuration: 0s' } }), manual(), inj).pod);
  t.equal(noDrain?.lifecycle, undefined, 'no drain: no preStop');
  t.notOk(noDrain?.args?.includes('--drain-time-s'));
  t.equal(proxyOf(injectPod(basicPod({ annotations: { 'proxy.istio.io/config': 'terminationDrainDuration: 1.2s' } }), manual(), inj).pod)?.lifecycle?.preStop?.exec?.command?.[2], drain(2), 'rounded up to whole seconds');

  const long = injectPod(basicPod({ annotations: { 'proxy.istio.io/config': 'terminationDrainDuration: 45s' } }), manual(), inj).warnings;
  t.same(long, ["terminationDrainDuration 45s is not shorter than the pod's terminationGracePeriodSeconds (30s): the proxy is killed before its drain ends"]);
  const longer = basicPod({ annotations: { 'proxy.istio.io/config': 'terminationDrainDuration: 45s' } });
  (longer.spec as NonNullable<Pod['spec']>).terminationGracePeriodSeconds = 60;
  t.same(injectPod(longer, manual(), inj).warnings, [], 'a longer grace period: no warning');

  const w = injectPod(basicPod({ annotations: { 'proxy.istio.io/config': '{"tracing": {}, "concurrency": 2}' } }), manual(), inj).warnings;
  t.same(w, ['annotation proxy.istio.io/config: ProxyConfig field tracing has no effect in tandem (no pilot-agent)']);
});

t.test('ProxyConfig: each invalid value is a clear error', async (t) => {
  const inj = await injector();
  const cases: Array<[string, string]> = [
    ['{bad', 'invalid annotation proxy.istio.io/config: not YAML or JSON'],
    ['[1, 2]', 'invalid annotation proxy.istio.io/config: must be a mapping of ProxyConfig fields'],
    ['holdApplication: true', 'invalid annotation proxy.istio.io/config: unknown ProxyConfig field "holdApplication"'],
    ['holdApplicationUntilProxyStarts: "yes"', 'invalid annotation proxy.istio.io/config: holdApplicationUntilProxyStarts must be true or false, got "yes"'],
    ['concurrency: two', 'invalid annotation proxy.istio.io/config: concurrency must be an integer 0-1024, got "two"'],
    ['concurrency: -1', 'invalid annotation proxy.istio.io/config: concurrency must be an integer 0-1024, got -1'],
    ['terminationDrainDuration: 5 seconds', 'invalid annotation proxy.istio.io/config: terminationDrainDuration "5 seconds" is not a duration (e.g. "5s", "1m30s")'],
    ['terminationDrainDuration: 5', 'invalid annotation proxy.istio.io/config: terminationDrainDuration 5 is not a duration (e.g. "5s", "1m30s")'],
    ['proxyMetadata: [a]', 'invalid annotation proxy.istio.io/config: proxyMetadata must be a mapping of environment variable names to strings'],
    ['proxyMetadata: {A: 1}', 'invalid annotation proxy.istio.io/config: proxyMetadata.A must be a string, got 1'],
    ['proxyMetadata: {"A=B": "x"}', 'invalid annotation proxy.istio.io/config: proxyMetadata key "A=B" is not an environment variable name'],
  ];
  for (const [value, message] of cases) {
    t.throws(() => injectPod(basicPod({ annotations: { 'proxy.istio.io/config': value } }), manual(), inj), { name: 'UserError', message: message.startsWith('invalid annotation proxy.istio.io/config: not YAML') ? new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`) : message }, value);
  }
  await t.rejects(injector({ proxyConfig: { concurrency: 1.5 } }), { name: 'UserError', message: 'injector config: proxyConfig: concurrency must be an integer 0-1024, got 1.5' });
  await t.rejects(injector({ proxyConfig: { drain: '5s' } }), { name: 'UserError', message: 'injector config: proxyConfig: unknown ProxyConfig field "drain"' });
});

t.test('durations as Go and protobuf write them', async (t) => {
  const ok: Array<[string, number]> = [['5s', 5], ['0', 0], ['0s', 0], ['1m30s', 90], ['1.5s', 1.5], ['500ms', 0.5], ['2h', 7200], ['1h1m1s', 3661]];
  for (const [s, v] of ok) t.equal(parseDuration(s), v, s);
  for (const s of ['', '5', 's', '5x', '1s 2s', '-1s', '1m30']) t.equal(parseDuration(s), undefined, JSON.stringify(s));
});
