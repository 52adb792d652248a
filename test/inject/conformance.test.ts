import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import type { V1Container } from '@kubernetes/client-node';
import { UserError } from '../../common/errors.js';
import { loadInjector, type Injector } from '../../inject/injector.js';
import { REWRITE_PROBES_ANNOTATION, boolAnnotation, previousProbers, probersJson, rewriteAppProbesCopying, type AppProbers } from '../../inject/probes.js';
import { podSites, type KubeObject } from '../../inject/offline/workloads.js';
import type { Pod } from '../../inject/types.js';
import { ISTIO_INJECT, injectObject, podProblems } from './helpers.js';

/**
 * Istio's own injection test data (pkg/kube/inject/testdata/inject): every
 * input injects (or, for the traffic-annotations-bad-* ones, fails naming the
 * annotation), and where Istio's expected output exists, the parts tandem shares
 * with Istio agree. The option each expected file was produced with comes from
 * Istio's inject_test.go.
 */

const files = readdirSync(ISTIO_INJECT).sort();
const inputs = files.filter((f) => f.endsWith('.yaml') && !f.endsWith('.iop.yaml'));
const expectedFiles = files.filter((f) => f.includes('.injected'));

const HOLD = { proxyConfig: { holdApplicationUntilProxyStarts: true } };

/** Expected files produced with an option tandem has too (or one that changes nothing compared here). */
const OPTION_CASES: Record<string, { input: string; config: Record<string, unknown>; note: string }> = {
  'hello-old-version.yaml.injected': { input: 'hello.yaml', config: { nativeSidecars: false }, note: 'native sidecars off' },
  'cronjob-old-version.yaml.injected': { input: 'cronjob.yaml', config: { nativeSidecars: false }, note: 'native sidecars off' },
  'daemonset-old-version.yaml.injected': { input: 'daemonset.yaml', config: { nativeSidecars: false }, note: 'native sidecars off' },
  'job-old-version.yaml.injected': { input: 'job.yaml', config: { nativeSidecars: false }, note: 'native sidecars off' },
  'pod-old-version.yaml.injected': { input: 'pod.yaml', config: { nativeSidecars: false }, note: 'native sidecars off' },
  'replicaset-old-version.yaml.injected': { input: 'replicaset.yaml', config: { nativeSidecars: false }, note: 'native sidecars off' },
  'statefulset-old-version.yaml.injected': { input: 'statefulset.yaml', config: { nativeSidecars: false }, note: 'native sidecars off' },
  'native-sidecar-old-version.yaml.injected': { input: 'native-sidecar.yaml', config: { nativeSidecars: false }, note: 'native sidecars off' },
  'hello-tproxy.yaml.injected': { input: 'hello.yaml', config: { capture: { interceptionMode: 'TPROXY' } }, note: 'mesh interceptionMode TPROXY' },
  'proxy-override-runas.yaml.tproxy.injected': { input: 'proxy-override-runas.yaml', config: { capture: { interceptionMode: 'TPROXY' } }, note: 'mesh interceptionMode TPROXY' },
  'hello-always.yaml.injected': { input: 'hello.yaml', config: { images: { pullPolicy: 'Always' } }, note: 'imagePullPolicy Always' },
  'hello-never.yaml.injected': { input: 'hello.yaml', config: { images: { pullPolicy: 'Never' } }, note: 'imagePullPolicy Never' },
  // Only the images differ, and images are tandem's own.
  'hello.yaml.proxyImageName.injected': { input: 'hello.yaml', config: {}, note: 'proxy image name (not compared)' },
  'hello.yaml.proxyInitImageName.injected': { input: 'hello.yaml', config: {}, note: 'init image name (not compared)' },
  // Mesh options that only change the pilot-agent environment, which tandem does not have.
  'format-duration.yaml.injected': { input: 'format-duration.yaml', config: {}, note: 'mesh drainDuration (agent env only)' },
  'traffic-annotations.yaml.injected': { input: 'traffic-annotations.yaml', config: {}, note: 'mesh proxyMetadata (agent env only)' },
  'hello-tracing-disabled.yaml.injected': { input: 'hello-tracing-disabled.yaml', config: {}, note: 'mesh tracing (agent env only)' },
  // Istio's IstioOperator values global.proxy.resources, expressed as tandem's proxy.resources.
  'proxy-resources-memory-null.yaml.injected': { input: 'proxy-resources-memory-null.yaml', config: { proxy: { resources: { limits: { cpu: '100m' }, requests: { cpu: '50m' } } } }, note: 'values: proxy resources with null memory' },
  'proxy-resources-mixed-null.yaml.injected': { input: 'proxy-resources-mixed-null.yaml', config: { proxy: { resources: { limits: { memory: '500Mi' }, requests: { cpu: '100m', 'ephemeral-storage': '1Gi' } } } }, note: 'values: proxy resources, some null' },
  'proxy-resources-null.yaml.injected': { input: 'proxy-resources-null.yaml', config: { proxy: { resources: { limits: { memory: '500Mi' }, requests: { memory: '150Mi' } } } }, note: 'values: proxy resources with null cpu' },
  'proxy-resources-null-no-init.yaml.injected': { input: 'proxy-resources-null-no-init.yaml', config: { proxy: { resources: { limits: { memory: '500Mi' }, requests: { memory: '150Mi' } } } }, note: 'values: proxy resources with null cpu' },
  'proxy-resources-zero.yaml.injected': { input: 'proxy-resources-zero.yaml', config: { proxy: { resources: { limits: { cpu: '0', memory: '500Mi' }, requests: { cpu: '0', memory: '150Mi' } } } }, note: 'values: proxy resources with zero cpu' },
  'proxy-override-args-native.yaml.injected': { input: 'proxy-override-args.yaml', config: {}, note: 'native sidecars (tandem default)' },
  // Helm value holdApplicationUntilProxyStarts=true, tandem's mesh-wide proxyConfig (native sidecars: the startupProbe holds the app).
  'hello.proxyHoldsApplication.yaml.injected': { input: 'hello.yaml', config: HOLD, note: 'mesh holdApplicationUntilProxyStarts' },
  'hello-probes.proxyHoldsApplication.yaml.injected': { input: 'hello-probes.yaml', config: HOLD, note: 'mesh holdApplicationUntilProxyStarts' },
  'hello-probes-noProxyHoldApplication-ProxyConfig.yaml.injected': { input: 'hello-probes-noProxyHoldApplication-ProxyConfig.yaml', config: HOLD, note: 'mesh holdApplicationUntilProxyStarts, annotation turns it off' },
  'merge-probers.yaml.injected': { input: 'merge-probers.yaml', config: HOLD, note: 'mesh holdApplicationUntilProxyStarts; probers of the existing istio-proxy merged' },
  // Istio's istio_cni.enabled (chained plugin) is tandem's injector config cni: true.
  'hello.yaml.cni.injected': { input: 'hello.yaml', config: { cni: true }, note: 'CNI mode' },
  'proxy-override-runas.yaml.cni.injected': { input: 'proxy-override-runas.yaml', config: { cni: true }, note: 'CNI mode' },
};

/** Expected files from an Istio option or feature tandem does not have: not compared, with the reason. */
const NOT_COMPARED: Record<string, string> = {
  'hello-cncf-networks.yaml.injected': 'Istio CNI with multus',
  'hello-existing-cncf-networks.yaml.injected': 'Istio CNI with multus',
  'hello-existing-cncf-networks-json.yaml.injected': 'Istio CNI with multus',
  'hello-openshift.yaml.injected': 'OpenShift platform + Istio CNI',
  'hello-openshift-custom-injection.yaml.injected': 'OpenShift platform + Istio CNI',
  'hello-openshift-tproxy.yaml.injected': 'OpenShift platform + Istio CNI',
  'traffic-params.yaml.injected': 'Helm values global.proxy.* including statusPort=0 (tandem always excludes its status port 15020)',
  'status_params.yaml.injected': 'Helm values statusPort=123 and readiness timings (tandem has no pilot-agent status port option)',
  'kubevirtInterfaces.yaml.injected': 'Helm values statusPort=123 (tandem has no status port option)',
  'reroute-virtual-interfaces.yaml.injected': 'Helm values statusPort=123 (tandem has no status port option)',
  'hello-image-secrets-in-values.yaml.injected': 'IstioOperator values file (global.imagePullSecrets)',
  'hello-multiple-image-secrets.yaml.injected': 'IstioOperator values file (global.imagePullSecrets)',
  'hello-template-in-values.yaml.injected': 'IstioOperator values global.podDNSSearchNamespaces (a templated pod dnsConfig); tandem has no such option',
  'sidecar-spire.yaml.injected':
    "Istio's expected pod lists istio-proxy twice (the image-less container the spire overlay adds next to the native sidecar), not a valid pod; tandem merges the overlay into the native sidecar (test/webhook/templates-named.test.ts)",
  'gateway-spire.yaml.injected': 'inject.istio.io/templates: gateway,spire; tandem ships no gateway template (the input fails naming it, tested)',
  'hello-mount-mtls-certs.yaml.injected': 'Helm value global.mountMtlsCerts',
  'hello-fips-140-3.yaml.injected': 'FIPS 140-3 compliance option',
  'gateway.yaml.injected': 'inject.istio.io/templates: gateway; tandem ships no gateway template (the input fails naming it, tested)',
  'gateway-with-default-container.yaml.injected': 'inject.istio.io/templates: gateway; tandem ships no gateway template (the input fails naming it, tested)',
  'grpc-simple.yaml.injected': "inject.istio.io/templates: grpc-simple; Istio's template runs pilot-agent to write a gRPC xDS bootstrap, tandem has no agent and ships no such template, its agentless equivalent is the named template grpc (the input fails naming it, tested)",
  'grpc-agent.yaml.injected': "inject.istio.io/templates: grpc-agent; Istio's template runs pilot-agent as a proxyless-gRPC xDS proxy, tandem has no agent and ships no such template (the input fails naming it, tested)",
};

/** Compared cases where one aspect differs for a known, stated reason (every other aspect is still compared). */
const CRONJOB_METADATA = {
  aspects: ['labels added', 'annotations added', 'prometheus merge'],
  reason: "Istio's kube-inject writes the pod's labels and annotations to the CronJob's jobTemplate.metadata (the Job); tandem writes them to the pod template, where the webhook would put them on the pod",
};
/** tandem rewrites only what its Envoy bootstrap can serve on :15020 (renderBootstrap's parseAppProbe): probes, not lifecycle hooks. */
const ENVOY_SERVES_PROBES_NOT_HOOKS =
  "tandem rewrites only what its Envoy bootstrap forwards on :15020 (control-plane/bootstrap.ts parseAppProbe: /app-health/ httpGet, grpc and tcpSocket probes); /app-lifecycle/ hooks keep pointing at the app until it does (Istio's mapping for them is checked in the 'probe mapping' test)";
const CNI_VALIDATION = {
  aspects: ['capture flags', 'security contexts'],
  reason:
    "CNI mode: tandem's istio-validation runs `tandem cni-validate`, which takes no capture flags (it proves the redirect the plugin built from the pod's annotations, compared under 'capture annotations'), and tandem adds seccompProfile RuntimeDefault to istio-validation and istio-proxy so that the pod passes Pod Security restricted on its own; the rest of both security contexts is Istio's (test/inject/cni.test.ts 'CNI goldens')",
};
const KNOWN_DIFFERENCES: Record<string, { aspects: string[]; reason: string }> = {
  'hello.yaml.cni.injected': CNI_VALIDATION,
  'proxy-override-runas.yaml.cni.injected': CNI_VALIDATION,
  'hello-probes.yaml.injected': { aspects: ['app lifecycle hooks', 'ISTIO_KUBE_APP_PROBERS'], reason: ENVOY_SERVES_PROBES_NOT_HOOKS },
  'hello-probes.proxyHoldsApplication.yaml.injected': { aspects: ['app lifecycle hooks', 'ISTIO_KUBE_APP_PROBERS'], reason: ENVOY_SERVES_PROBES_NOT_HOOKS },
  'merge-probers.yaml.injected': {
    aspects: ['proxy probes'],
    reason: "the input was injected before (status annotation) and has no proxy.istio.io/overrides annotation: Istio keeps the old istio-proxy's fields as the user's, tandem removes what the status annotation lists and injects afresh (design.md); the old proxy's ISTIO_KUBE_APP_PROBERS are still merged",
  },
  'cronjob.yaml.injected': CRONJOB_METADATA,
  'cronjob-old-version.yaml.injected': CRONJOB_METADATA,
  'status_annotations.yaml.injected': {
    aspects: ['capture flags', 'proxy probes'],
    reason: 'status.sidecar.istio.io/port and readiness.status.sidecar.istio.io/* annotations are not implemented (tandem has no pilot-agent; its status port 15020 is fixed by the Envoy bootstrap)',
  },
  'status_annotations_zeroport.yaml.injected': {
    aspects: ['capture flags', 'proxy probes'],
    reason: 'status.sidecar.istio.io/port: "0" is not implemented (tandem has no pilot-agent; its status port 15020 is fixed by the Envoy bootstrap)',
  },
};

function loadDocs(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter((x): x is KubeObject => x !== null && typeof x === 'object');
}

const QUANTITY_SUFFIX: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
function quantity(q: unknown): number | undefined {
  if (q === undefined || q === null) return undefined;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(q));
  if (!m) return NaN;
  return Number(m[1]) * (QUANTITY_SUFFIX[m[2] as string] ?? NaN);
}
function normResources(r: V1Container['resources']): unknown {
  if (!r) return undefined;
  const side = (x: Record<string, unknown> | undefined) => (x ? { cpu: quantity(x.cpu), memory: quantity(x.memory), ephemeral: quantity(x['ephemeral-storage']) } : undefined);
  return { requests: side(r.requests as Record<string, unknown> | undefined), limits: side(r.limits as Record<string, unknown> | undefined) };
}

const STATUS = 'sidecar.istio.io/status';

/** Drops undefined fields, which YAML input never has. */
function plain<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** The parts of an injected pod tandem shares with Istio. */
function shared(pod: Pod): Record<string, unknown> {
  const init = pod.spec?.initContainers ?? [];
  const cs = pod.spec?.containers ?? [];
  const all = [...init, ...cs];
  // CNI mode's istio-validation stands where istio-init would.
  const istioInit = all.find((c) => c.name === 'istio-init') ?? all.find((c) => c.name === 'istio-validation');
  const proxy = all.find((c) => c.name === 'istio-proxy');
  const ann = pod.metadata?.annotations ?? {};
  const labels = pod.metadata?.labels ?? {};
  const status = ann[STATUS] ? (JSON.parse(ann[STATUS]) as Record<string, unknown>) : undefined;
  const proxyEnv = (name: string): unknown => {
    const v = proxy?.env?.find((e) => e.name === name)?.value;
    return v === undefined ? undefined : JSON.parse(v);
  };
  // App containers and the app's own native sidecars (init containers that keep running).
  const apps = [...cs, ...init.filter((c) => c.restartPolicy === 'Always')].filter((c) => c.name !== 'istio-proxy');
  return {
    injected: proxy !== undefined,
    'container order': { initContainers: init.map((c) => c.name), containers: cs.map((c) => c.name) },
    'capture flags': istioInit?.args?.slice(1).filter((a) => !a.startsWith('--log_output_level')),
    'proxy ports': proxy?.ports?.map((p) => ({ containerPort: p.containerPort, name: p.name, protocol: p.protocol ?? 'TCP' })),
    'security contexts': { init: istioInit?.securityContext, proxy: proxy?.securityContext },
    'proxy probes': { readiness: proxy?.readinessProbe, startup: proxy?.startupProbe },
    'proxy restartPolicy': proxy?.restartPolicy,
    // What the CNI plugin reads (Istio's template writes them in CNI mode; otherwise only the pod's own).
    'capture annotations': Object.fromEntries(Object.entries(ann).filter(([k]) => k.startsWith('traffic.sidecar.istio.io/') || k === 'sidecar.istio.io/interceptionMode' || k === 'istio.io/reroute-virtual-interfaces')),
    resources: { init: normResources(istioInit?.resources), proxy: normResources(proxy?.resources) },
    'image pull policy': { init: istioInit?.imagePullPolicy, proxy: proxy?.imagePullPolicy },
    'app probes': plain(apps.map((c) => ({ name: c.name, liveness: c.livenessProbe, readiness: c.readinessProbe, startup: c.startupProbe }))),
    'app env and mounts': plain(apps.map((c) => ({ name: c.name, env: c.env, volumeMounts: c.volumeMounts }))),
    'app lifecycle hooks': plain(apps.map((c) => ({ name: c.name, lifecycle: c.lifecycle }))),
    'ISTIO_KUBE_APP_PROBERS': proxyEnv('ISTIO_KUBE_APP_PROBERS'),
    'prometheus merge': {
      annotations: Object.fromEntries(Object.entries(ann).filter(([k]) => k.startsWith('prometheus'))),
      env: proxyEnv('ISTIO_PROMETHEUS_ANNOTATIONS'),
    },
    'labels added': {
      tlsMode: labels['security.istio.io/tlsMode'],
      canonicalName: labels['service.istio.io/canonical-name'],
      canonicalRevision: labels['service.istio.io/canonical-revision'],
    },
    'annotations added': {
      defaultContainer: ann['kubectl.kubernetes.io/default-container'],
      defaultLogsContainer: ann['kubectl.kubernetes.io/default-logs-container'],
      rev: ann['istio.io/rev'],
      status: status && { initContainers: status.initContainers, containers: status.containers, revision: status.revision },
    },
  };
}

/** Istio's test templates (custom, spire) written as tandem named templates, as an admin would mount them. */
const FIXTURE_TEMPLATES = fileURLToPath(new URL('./fixtures/templates/', import.meta.url));
/** Inputs asking for templates tandem does not ship: they fail naming the template. */
const UNAVAILABLE_TEMPLATES: Record<string, string> = {
  'gateway.yaml': 'gateway',
  'gateway-with-default-container.yaml': 'gateway',
  'gateway-spire.yaml': 'gateway',
  'grpc-agent.yaml': 'grpc-agent',
  'grpc-simple.yaml': 'grpc-simple',
};

const injectors = new Map<string, Promise<Injector>>();
function injectorFor(config: Record<string, unknown> | undefined): Promise<Injector> {
  const key = JSON.stringify(config ?? null);
  if (!injectors.has(key)) injectors.set(key, loadInjector({ config: config ?? {}, templatesDir: FIXTURE_TEMPLATES }));
  return injectors.get(key) as Promise<Injector>;
}

t.test('every expected file is either compared or listed with a reason', async (t) => {
  for (const f of expectedFiles) {
    const defaultInput = f.replace(/\.injected$/, '');
    const accounted = f in OPTION_CASES || f in NOT_COMPARED || (f.endsWith('.yaml.injected') && inputs.includes(defaultInput));
    t.ok(accounted, `${f} has an input or a listed option`);
  }
  for (const f of Object.keys({ ...OPTION_CASES, ...NOT_COMPARED })) t.ok(expectedFiles.includes(f), `${f} exists`);
});

t.test('every input injects (manual mode, default config), validates, and injecting twice changes nothing', async (t) => {
  const inj = await injectorFor(undefined);
  let injectedPods = 0;
  for (const input of inputs) {
    if (input.startsWith('traffic-annotations-bad-') || input in UNAVAILABLE_TEMPLATES) continue;
    const docs = loadDocs(`${ISTIO_INJECT}/${input}`);
    const once = docs.map((d) => injectObject(d, inj));
    const twice = once.map((d) => injectObject(d, inj));
    t.same(twice, once, `${input}: injecting twice == injecting once`);
    t.same(once.map((d) => d.kind), docs.map((d) => d.kind), `${input}: documents kept in order`);
    once.forEach((d, i) => {
      const before = podSites(docs[i] as KubeObject);
      podSites(d).forEach((site, j) => {
        // A few Istio inputs are themselves not strictly valid (e.g. creationTimestamp: null); injection must add no problem.
        const inputProblems = new Set(podProblems((before[j] as (typeof before)[number]).pod));
        const problems = podProblems(site.pod).filter((p) => !inputProblems.has(p));
        t.same(problems, [], `${input} document ${i + 1} ${site.kind}/${site.name}: valid pod`);
        if (site.pod.metadata?.annotations?.[STATUS]) injectedPods++;
      });
      if (podSites(d).length === 0) t.same(d, docs[i], `${input} document ${i + 1} (${String(d.kind)}): passes through unchanged`);
    });
  }
  t.ok(injectedPods > 80, `many pods injected (${injectedPods})`);
});

t.test('traffic-annotations-bad-* inputs fail naming the annotation and its value', async (t) => {
  const inj = await injectorFor(undefined);
  const bad = inputs.filter((f) => f.startsWith('traffic-annotations-bad-'));
  t.equal(bad.length, 5);
  for (const input of bad) {
    const text = readFileSync(`${ISTIO_INJECT}/${input}`, 'utf8');
    const m = /(traffic\.sidecar\.istio\.io\/[A-Za-z]+): "([^"]*)"/.exec(text);
    t.ok(m, `${input} carries a traffic annotation`);
    const [, key, value] = m as RegExpExecArray;
    const docs = loadDocs(`${ISTIO_INJECT}/${input}`);
    let err: unknown;
    try {
      docs.forEach((d) => injectObject(d, inj));
    } catch (e) {
      err = e;
    }
    t.type(err, UserError, `${input}: a user error`);
    t.match((err as Error).message, key as string, `${input}: names ${key}`);
    t.match((err as Error).message, `"${value}"`, `${input}: names the value`);
  }
});

t.test('inputs asking for a template tandem does not ship fail naming it', async (t) => {
  const inj = await injectorFor(undefined);
  for (const [input, name] of Object.entries(UNAVAILABLE_TEMPLATES)) {
    const docs = loadDocs(`${ISTIO_INJECT}/${input}`);
    t.throws(() => docs.forEach((d) => injectObject(d, inj)), { name: 'UserError', message: new RegExp(`inject\\.istio\\.io/templates=".*": unknown template "${name}" \\(available: sidecar, custom, grpc, spire\\)`) }, input);
  }
});

const comparedCases = expectedFiles
  .filter((f) => !(f in NOT_COMPARED))
  .map((want) => {
    const opt = OPTION_CASES[want];
    return { want, input: opt ? opt.input : want.replace(/\.injected$/, ''), config: opt?.config };
  });

t.test('where Istio has an expected output, the shared parts agree', async (t) => {
  t.ok(comparedCases.length >= 80, `${comparedCases.length} expected files compared`);
  for (const c of comparedCases) {
    t.test(c.want, async (t) => {
      t.ok(existsSync(`${ISTIO_INJECT}/${c.input}`), `input ${c.input}`);
      const inj = await injectorFor(c.config);
      const ours = loadDocs(`${ISTIO_INJECT}/${c.input}`).map((d) => injectObject(d, inj));
      const theirs = loadDocs(`${ISTIO_INJECT}/${c.want}`);
      t.same(ours.map((d) => d.kind), theirs.map((d) => d.kind), 'document kinds');
      const oursPods = ours.flatMap((d) => podSites(d));
      const theirPods = theirs.flatMap((d) => podSites(d));
      t.equal(oursPods.length, theirPods.length, 'pod templates');
      const skip = KNOWN_DIFFERENCES[c.want]?.aspects ?? [];
      const stillDiffers = new Set<string>();
      oursPods.forEach((site, i) => {
        const a = shared(site.pod);
        const b = shared((theirPods[i] as (typeof theirPods)[number]).pod);
        for (const aspect of Object.keys(b)) {
          if (!skip.includes(aspect)) t.same(a[aspect], b[aspect], `${site.kind}/${site.name}: ${aspect}`);
          else if (JSON.stringify(a[aspect]) !== JSON.stringify(b[aspect])) stillDiffers.add(aspect);
        }
      });
      // A stated difference that no longer exists must be removed from the list (it would hide a regression).
      for (const aspect of skip) t.ok(stillDiffers.has(aspect), `known difference "${aspect}" still differs`);
    });
  }
});

t.test("probe mapping: with every prober servable, tandem's rewrite is Istio's for every compared case", async (t) => {
  let rewritten = 0;
  for (const c of comparedCases) {
    const ins = loadDocs(`${ISTIO_INJECT}/${c.input}`).flatMap((d) => podSites(d));
    const wants = loadDocs(`${ISTIO_INJECT}/${c.want}`).flatMap((d) => podSites(d));
    ins.forEach((site, i) => {
      const want = (wants[i] as (typeof wants)[number]).pod;
      if (!want.metadata?.annotations?.[STATUS]) return;
      const pod = plain(site.pod);
      const spec = pod.spec as NonNullable<Pod['spec']>;
      const previous = previousProbers([...(spec.initContainers ?? []), ...spec.containers]);
      // The expected pod's annotations include what a named template set (custom turns the rewrite off).
      const on = boolAnnotation(want.metadata?.annotations, REWRITE_PROBES_ANNOTATION, true);
      let probers: AppProbers = {};
      if (on) {
        const r = rewriteAppProbesCopying([...spec.containers, ...(spec.initContainers ?? []).filter((x) => x.restartPolicy === 'Always')], 'istio-proxy', previous, () => true);
        probers = r.probers;
        const put = (x: V1Container): V1Container => r.replaced.get(x) ?? x;
        spec.containers = spec.containers.map(put);
        if (spec.initContainers) spec.initContainers = spec.initContainers.map(put);
      }
      if (Object.keys(probers).length > 0) rewritten++;
      // Only the app containers are compared here; the proxy is the injector's business.
      const appInit = (s: NonNullable<Pod['spec']>) => (s.initContainers ?? []).filter((x) => x.name !== 'istio-proxy' && x.name !== 'istio-init' && x.name !== 'istio-validation');
      const ours = shared({ ...pod, spec: { ...spec, containers: spec.containers.filter((x) => x.name !== 'istio-proxy'), initContainers: appInit(spec) } });
      const theirs = shared({ ...want, spec: { ...(want.spec as NonNullable<Pod['spec']>), initContainers: appInit(want.spec as NonNullable<Pod['spec']>) } });
      t.same(ours['app probes'], theirs['app probes'], `${c.want} ${site.name}: app probes`);
      t.same(ours['app lifecycle hooks'], theirs['app lifecycle hooks'], `${c.want} ${site.name}: lifecycle hooks`);
      t.same(Object.keys(probers).length > 0 ? JSON.parse(probersJson(probers)) : undefined, shared(want)['ISTIO_KUBE_APP_PROBERS'], `${c.want} ${site.name}: ISTIO_KUBE_APP_PROBERS`);
    });
  }
  t.ok(rewritten >= 20, `probes rewritten in ${rewritten} pods`);
});

t.test("CNI goldens: the validation container's and proxy's security contexts are Istio's plus seccompProfile RuntimeDefault", async (t) => {
  const inj = await injectorFor({ cni: true });
  for (const want of ['hello.yaml.cni.injected', 'proxy-override-runas.yaml.cni.injected']) {
    const input = (OPTION_CASES[want] as { input: string }).input;
    const ours = loadDocs(`${ISTIO_INJECT}/${input}`).map((d) => injectObject(d, inj)).flatMap((d) => podSites(d));
    const theirs = loadDocs(`${ISTIO_INJECT}/${want}`).flatMap((d) => podSites(d));
    t.equal(ours.length, theirs.length, want);
    ours.forEach((site, i) => {
      const find = (p: Pod, n: string) => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((c) => c.name === n);
      const theirPod = (theirs[i] as (typeof theirs)[number]).pod;
      for (const name of ['istio-validation', 'istio-proxy']) {
        const sc = plain(find(site.pod, name)?.securityContext) ?? {};
        t.same(sc.seccompProfile, { type: 'RuntimeDefault' }, `${want} ${name}: seccompProfile RuntimeDefault`);
        delete sc.seccompProfile;
        t.same(sc, find(theirPod, name)?.securityContext, `${want} ${name}: otherwise Istio's security context`);
      }
      t.same(find(site.pod, 'istio-validation')?.args, ['cni-validate'], `${want}: tandem's validation command`);
    });
  }
});
