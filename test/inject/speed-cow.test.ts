import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { V1Container } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { diff } from '../../webhook/patch.js';
import { injectPod, loadInjector, type Injector } from '../../inject/injector.js';
import { rewriteAppProbesCopying } from '../../inject/probes.js';
import type { InjectionContext, Pod } from '../../inject/types.js';
import { podSites, type KubeObject } from '../../inject/offline/workloads.js';
import { ISTIO_INJECT } from './helpers.js';

/**
 * Admission injects without copying the whole pod: it shares what it does not change with the
 * input. Here every conformance input and every annotation family is injected as a deeply frozen
 * pod (any write to the input throws in strict mode) in webhook mode, and must give exactly the
 * text manual mode gives (manual mode deep-copies its input first, the way injection always did),
 * the same warnings or error, the same admission patch, and the same again when re-injected.
 */

const FIXTURE_TEMPLATES = fileURLToPath(new URL('./fixtures/templates/', import.meta.url));

function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}

const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

type Result = { text: string; pod?: Pod } | { error: string };
function run(f: () => ReturnType<typeof injectPod>): Result {
  try {
    const o = f();
    return { text: JSON.stringify(o), pod: o.pod };
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

/** Webhook mode on a frozen pod against manual mode on a copy; returns the injected pod when there is one. */
function same(t: Test, pod: Pod, ctx: Omit<InjectionContext, 'mode'>, inj: Injector, what: string): Pod | undefined {
  const expected = run(() => injectPod(plain(pod), { ...ctx, mode: 'manual' }, inj));
  const frozen = deepFreeze(plain(pod));
  const got = run(() => injectPod(frozen, { ...ctx, mode: 'webhook' }, inj));
  if ('error' in expected || 'error' in got) {
    t.same(got, expected, `${what}: same error`);
    return undefined;
  }
  t.equal(got.text, expected.text, `${what}: same outcome, byte for byte`);
  if (got.pod !== frozen) {
    t.equal(JSON.stringify(diff(frozen, got.pod as Pod)), JSON.stringify(diff(plain(pod), expected.pod as Pod)), `${what}: same patch`);
  }
  return got.pod;
}

function loadDocs(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter((x): x is KubeObject => x !== null && typeof x === 'object');
}

const CONFIGS: Record<string, Record<string, unknown>> = {
  default: {},
  classic: { nativeSidecars: false },
  'classic hold': { nativeSidecars: false, proxyConfig: { holdApplicationUntilProxyStarts: true } },
  tproxy: { capture: { interceptionMode: 'TPROXY' } },
};

async function injectors(): Promise<Array<[string, Injector]>> {
  return Promise.all(Object.entries(CONFIGS).map(async ([name, config]) => [name, await loadInjector({ config, templatesDir: FIXTURE_TEMPLATES })] as [string, Injector]));
}

/** Injects, then re-injects the (frozen) result, comparing both steps. */
function check(t: Test, pod: Pod, ctx: Omit<InjectionContext, 'mode'>, inj: Injector, what: string): boolean {
  const out = same(t, pod, ctx, inj, what);
  if (out) same(t, out, ctx, inj, `${what}, re-injected`);
  return out !== undefined;
}

t.test('every conformance input: a frozen pod injects exactly as a copied one, and so does its re-injection', async (t) => {
  const inputs = readdirSync(ISTIO_INJECT).filter((f) => f.endsWith('.yaml') && !f.endsWith('.iop.yaml')).sort();
  t.ok(inputs.length > 40, `${inputs.length} inputs`);
  let injected = 0;
  for (const [name, inj] of await injectors()) {
    for (const f of inputs) {
      for (const site of loadDocs(`${ISTIO_INJECT}/${f}`).flatMap((d) => podSites(d))) {
        if (check(t, site.pod, { namespace: { name: site.namespace ?? 'default' }, workload: site.workload }, inj, `${name}: ${f} ${site.kind}/${site.name}`)) injected++;
      }
    }
  }
  t.ok(injected > 150, `${injected} injections compared`);
});

function appPod(annotations: Record<string, string>, extra: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-6f7d-', namespace: 'shop', labels: { app: 'web', version: 'v1', 'pod-template-hash': '6f7d' }, annotations },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'shop/web:1',
          ports: [{ containerPort: 8080, name: 'http' }, { containerPort: 8443, name: 'https' }, { containerPort: 9000, name: 'grpc' }],
          readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 },
          livenessProbe: { httpGet: { path: '/live', port: 8443, scheme: 'HTTPS', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, timeoutSeconds: 2 },
          startupProbe: { tcpSocket: { port: 8080 }, failureThreshold: 30 },
          lifecycle: { postStart: { tcpSocket: { port: 'grpc' } }, preStop: { exec: { command: ['sleep', '1'] } } },
          env: [{ name: 'A', value: '1' }],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
        { name: 'side', image: 'shop/side:1', readinessProbe: { exec: { command: ['true'] } }, livenessProbe: { grpc: { port: 9000 } } },
        { name: 'tail', image: 'shop/tail:1', ports: [{ containerPort: 5000 }] },
      ],
      initContainers: [
        { name: 'setup', image: 'shop/setup:1' },
        { name: 'log', image: 'shop/log:1', restartPolicy: 'Always', readinessProbe: { httpGet: { path: '/ok', port: 7070 } } },
      ],
      volumes: [{ name: 'data', emptyDir: {} }, { name: 'istio-envoy', emptyDir: {} }],
      terminationGracePeriodSeconds: 40,
      ...extra,
    },
  };
}

/** One pod per annotation family of the golden tests (annotations, render, templates-named, e2e-annotations). */
const FAMILIES: Record<string, Pod> = {
  plain: appPod({}),
  'probe rewrite off': appPod({ 'sidecar.istio.io/rewriteAppHTTPProbers': 'false' }),
  'probe rewrite invalid': appPod({ 'sidecar.istio.io/rewriteAppHTTPProbers': 'maybe' }),
  'prometheus merge': appPod({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9100', 'prometheus.io/path': '/m' }),
  'prometheus dotted': appPod({ 'prometheus.io.port': '7070' }),
  'prometheus targets': appPod({ 'prometheus.istio.io/scrape-targets': '8080:/metrics, 9100:/custom' }),
  'prometheus off': appPod({ 'prometheus.istio.io/merge-metrics': 'false', 'prometheus.io/port': '9100' }),
  'prometheus scrape false': appPod({ 'prometheus.io/scrape': 'false' }),
  hold: appPod({ 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: true' }),
  'hold classic': appPod({ 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: true', 'sidecar.istio.io/nativeSidecar': 'false' }),
  'proxy config': appPod({ 'proxy.istio.io/config': '{"concurrency": 1, "terminationDrainDuration": "45s", "proxyMetadata": {"B": "pod"}}' }),
  'proxy config bad': appPod({ 'proxy.istio.io/config': 'concurrency: many' }),
  'native off': appPod({ 'sidecar.istio.io/nativeSidecar': 'false' }),
  'native bad': appPod({ 'sidecar.istio.io/nativeSidecar': 'sometimes' }),
  tproxy: appPod({ 'sidecar.istio.io/interceptionMode': 'TPROXY' }),
  'capture none': appPod({ 'sidecar.istio.io/interceptionMode': 'NONE' }),
  traffic: appPod({
    'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.0/8',
    'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.1/32',
    'traffic.sidecar.istio.io/includeInboundPorts': '8080',
    'traffic.sidecar.istio.io/excludeOutboundPorts': '5432',
  }),
  'proxy options': appPod({ 'sidecar.istio.io/proxyImage': 'proxy:2', 'sidecar.istio.io/logLevel': 'debug', 'sidecar.istio.io/componentLogLevel': 'misc:error' }),
  resources: appPod({ 'sidecar.istio.io/proxyCPU': '200m', 'sidecar.istio.io/proxyMemory': '256Mi', 'sidecar.istio.io/proxyCPULimit': '1' }),
  'named custom': appPod({ 'inject.istio.io/templates': 'custom' }),
  'named sidecar,spire': appPod({ 'inject.istio.io/templates': 'sidecar,spire' }),
  'named sidecar,custom': appPod({ 'inject.istio.io/templates': 'sidecar,custom', 'sidecar.istio.io/nativeSidecar': 'false' }),
  'named unknown': appPod({ 'inject.istio.io/templates': 'sidecar,gateway' }),
  'user proxy override': appPod({}, {
    containers: [
      { name: 'app', image: 'shop/web:1', readinessProbe: { httpGet: { path: '/r', port: 8080 } } },
      { name: 'istio-proxy', image: 'auto', args: ['--custom'], env: [{ name: 'X', value: 'y' }], securityContext: { runAsUser: 1234 }, resources: { limits: { cpu: '2' } } },
    ],
  }),
  'user init override': appPod({ 'sidecar.istio.io/interceptionMode': 'TPROXY' }, {
    initContainers: [{ name: 'istio-init', image: 'init:2', args: ['x'] }, { name: 'setup', image: 'shop/setup:1' }],
  }),
  'status not JSON': appPod({ 'sidecar.istio.io/status': 'garbage' }, {
    containers: [{ name: 'app', image: 'shop/web:1' }, { name: 'istio-proxy', image: 'old' }],
    initContainers: [{ name: 'istio-init', image: 'old' }],
  }),
  'no spec': { metadata: { name: 'bare', namespace: 'shop' } },
  'no metadata': { spec: { containers: [{ name: 'app', image: 'a' }] } },
  'opt out': appPod({ 'sidecar.istio.io/inject': 'false' }),
  'host network': appPod({}, { hostNetwork: true }),
  'a probe with an own __proto__ key': appPod({}, {
    containers: [{ name: 'app', image: 'a', readinessProbe: JSON.parse('{"periodSeconds":5,"__proto__":{"x":1},"httpGet":{"path":"/r","port":8080},"timeoutSeconds":2}') as object }],
  }),
  'metadata a list': { metadata: [] as unknown as Pod['metadata'], spec: { containers: [{ name: 'app', image: 'a' }] } },
  'spec a string': { metadata: { name: 'odd' }, spec: 'none' as unknown as Pod['spec'] },
  'a container not an object': { metadata: { name: 'odd' }, spec: { containers: [null as unknown as V1Container] } },
  'odd shapes': { metadata: { name: 'odd', labels: 'app' as unknown as Record<string, string> }, spec: { containers: [{ name: 'app', image: 'a' }], volumes: 'none' as unknown as [] } },
};

t.test('every annotation family: a frozen pod injects exactly as a copied one, and so does its re-injection', async (t) => {
  let injected = 0;
  for (const [name, inj] of await injectors()) {
    for (const [family, pod] of Object.entries(FAMILIES)) {
      if (check(t, pod, { namespace: { name: 'shop' } }, inj, `${name}: ${family}`)) injected++;
    }
  }
  t.ok(injected > 80, `${injected} injections compared`);
});

t.test('what injection leaves alone is shared with the input, what it changes is not', async (t) => {
  const [, inj] = (await injectors())[0] as [string, Injector];
  const input = deepFreeze(appPod({}));
  const out = injectPod(input, { namespace: { name: 'shop' }, mode: 'webhook' }, inj).pod;
  const spec = out.spec as NonNullable<Pod['spec']>;
  const inSpec = input.spec as NonNullable<Pod['spec']>;
  t.not(out, input);
  t.not(out.metadata, input.metadata);
  t.not(spec, inSpec);
  t.equal(spec.containers[1]?.readinessProbe, inSpec.containers[1]?.readinessProbe, 'an exec probe is the same object');
  t.not(spec.containers[0], inSpec.containers[0], 'the container whose probes are rewritten is a copy');
  t.equal(spec.containers[0]?.env, inSpec.containers[0]?.env, 'its other fields are shared');
  t.equal(spec.containers[0]?.lifecycle, inSpec.containers[0]?.lifecycle, 'hooks the bootstrap cannot serve: the lifecycle is shared');
  t.equal(spec.initContainers?.find((c) => c.name === 'setup'), inSpec.initContainers?.[0], 'an untouched init container is the same object');
  t.equal(input.spec?.containers[0]?.readinessProbe?.httpGet?.port, 'http', 'the input keeps its probe');
  t.ok(diff(input, out).some((op) => op.path.startsWith('/spec/containers/0/')), 'the rewritten container has operations');
  t.equal(spec.containers[2], inSpec.containers[2], 'a container without probes is the same object');
  t.same(diff(input, out).filter((op) => op.path.startsWith('/spec/containers/2')), [], 'and needs no operations');
});

t.test('rewriteAppProbesCopying: the rewritten containers as copies keyed by the originals, the input untouched', async (t) => {
  const containers = (): V1Container[] => (appPod({}).spec as NonNullable<Pod['spec']>).containers;
  const [app, side, tail] = containers() as [V1Container, V1Container, V1Container];
  const at = (path: string) => ({ path, port: 15020 });
  // Written out from appPod by hand: named ports http 8080, https 8443, grpc 9000; the rewritten
  // probe keeps its timings and gets the handler last; probers in visiting order, Go's field order.
  const readyz = { httpGet: { path: '/ready', port: 8080 } };
  const livez = { httpGet: { path: '/live', port: 8443, scheme: 'HTTPS', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, timeoutSeconds: 2 };
  const readinessProbe = { periodSeconds: 5, httpGet: at('/app-health/app/readyz') };
  const livenessProbe = { timeoutSeconds: 2, httpGet: { path: '/app-health/app/livez', port: 15020, scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] } };
  const cases = [
    {
      what: 'every prober servable',
      canServe: () => true,
      probers: {
        '/app-health/app/readyz': readyz,
        '/app-health/app/livez': livez,
        '/app-health/app/startupz': { tcpSocket: { port: 8080 } },
        '/app-lifecycle/app/poststartz': { tcpSocket: { port: 9000 } },
        '/app-health/side/livez': { grpc: { port: 9000 } },
      },
      containers: [
        {
          ...app,
          readinessProbe,
          livenessProbe,
          startupProbe: { failureThreshold: 30, httpGet: at('/app-health/app/startupz') },
          lifecycle: { postStart: { httpGet: at('/app-lifecycle/app/poststartz') }, preStop: { exec: { command: ['sleep', '1'] } } },
        },
        { ...side, livenessProbe: { httpGet: at('/app-health/side/livez') } },
        tail,
      ],
      replaced: [0, 1],
    },
    {
      what: 'only httpGet servable',
      canServe: (_k: string, p: object) => 'httpGet' in p,
      probers: { '/app-health/app/readyz': readyz, '/app-health/app/livez': livez },
      containers: [{ ...app, readinessProbe, livenessProbe }, side, tail],
      replaced: [0],
    },
  ];
  for (const c of cases) {
    const input = deepFreeze(containers());
    const r = rewriteAppProbesCopying(input, 'istio-proxy', {}, c.canServe);
    t.equal(JSON.stringify(r.probers), JSON.stringify(c.probers), `${c.what}: the probers, in order`);
    t.equal(JSON.stringify(input.map((x) => r.replaced.get(x) ?? x)), JSON.stringify(c.containers), `${c.what}: the containers`);
    t.same([...r.replaced.keys()].map((x) => input.indexOf(x)), c.replaced, `${c.what}: only changed containers are replaced, keyed by the input objects`);
    t.same(input, containers(), `${c.what}: the input is unchanged`);
  }
  const input = deepFreeze(containers());
  const all = rewriteAppProbesCopying(input, 'istio-proxy', {}, () => true);
  const first = all.replaced.get(input[0] as V1Container);
  t.ok(first, 'the input app container has its copy');
  t.not(first, input[0]);
  t.equal(first?.env, input[0]?.env, 'fields the rewrite leaves are shared');
  t.same(first?.lifecycle?.postStart, { httpGet: { path: '/app-lifecycle/app/poststartz', port: 15020 } }, 'a servable hook is rewritten in the copy');
  t.same(first?.lifecycle?.preStop, { exec: { command: ['sleep', '1'] } });
  const partial = rewriteAppProbesCopying(input, 'istio-proxy', {}, (_k, p) => 'httpGet' in p).replaced.get(input[0] as V1Container);
  t.equal(partial?.lifecycle, input[0]?.lifecycle, 'no hook rewritten: the lifecycle is shared');
  t.equal(partial?.startupProbe, input[0]?.startupProbe, 'a probe left alone is shared');
});
