import { readFile } from 'node:fs/promises';
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import { parseAppProbe } from '../bootstrap/app-probes.js';
import { renderGrpcBootstrap } from '../bootstrap/grpc.js';
import { renderBootstrap, type PrometheusScrape } from '../bootstrap/sidecar.js';
import { WORKLOAD_CREDENTIALS_DIR } from '../bootstrap/workload-credentials.js';
import { UserError } from '../common/errors.js';
import { captureSettings, iptablesArgs, validateCaptureDefaults } from './capture.js';
import { canonicalLabels, workloadOf } from './canonical.js';
import { VALIDATION_CONTAINER, cniAnnotations } from './cni.js';
import { DEFAULT_CONFIG, injectorConfigFrom, parseInjectorConfig, type InjectorConfig } from './config.js';
import {
  CANONICAL_NAME_LABEL, CANONICAL_REVISION_LABEL, DEFAULT_CONTAINER_ANNOTATION, DEFAULT_LOGS_CONTAINER_ANNOTATION,
  NATIVE_SIDECAR_ANNOTATION, REV_LABEL, STATUS_ANNOTATION, TLS_MODE_LABEL, parseIstioBool,
} from './labels.js';
import { SIDECAR_TEMPLATE, TEMPLATES_ANNOTATION, applyOverlay, requestedTemplates, type NamedTemplate } from './named-templates.js';
import { OVERRIDES_ANNOTATION, mergeUserContainer, takeUserOverrides, type Overrides } from './overrides.js';
import { decide, type PolicyConfig } from './policy.js';
import { neverInjectedNamespaces } from './labels.js';
import { proxyLifecycle } from './lifecycle.js';
import { KUBE_APP_PROBERS_ENV, REWRITE_PROBES_ANNOTATION, boolAnnotation, envOf, previousProbers, probersJson, rewriteAppProbesCopying, setEnv, type AppProbers } from './probes.js';
import { MERGED_METRICS_PORT, PROMETHEUS_ENV, prometheusMerge } from './prometheus.js';
import { podProxyConfig, type ProxyConfigSettings } from '../config/mesh/proxy-config.js';
import { componentLogLevelProblem, proxyOptions } from './proxy-options.js';
import { resourcesFromAnnotations } from './resources.js';
import { removePreviousInjection, type InjectionStatus } from './status.js';
import { loadTemplates, validateRendered, type SidecarTemplates, type SidecarValues } from './templates.js';
import type { InjectionContext, InjectionOutcome, Pod } from './types.js';
import { workloadCertificatesOn, workloadCertsMount, workloadCertsVolume } from './workload-certificates.js';
import { DEFAULT_NAMESPACE } from '../common/names.js';
import { isObject } from '../common/objects.js';

/** A loaded, validated injector: config plus precompiled templates. Build it with loadInjector. */
export interface Injector {
  readonly revision: string;
  readonly config: InjectorConfig;
  readonly templates: SidecarTemplates;
  /** what the policy reads: the config's selectors and the namespaces never injected */
  readonly policy: PolicyConfig & { revision: string };
}

export { parseStatus, type InjectionStatus } from './status.js';
export { OVERRIDES_ANNOTATION } from './overrides.js';

export interface LoadInjectorOptions {
  /** injector config YAML (policy, selectors, images, defaults); embedded defaults when absent */
  configPath?: string;
  /** directory overriding the shipped templates/ */
  templatesDir?: string;
  /** an already-parsed config (tests, embedded use); ignored when configPath is given */
  config?: unknown;
  /** the control plane's own namespace, never injected (default tandem-system) */
  controlPlaneNamespace?: string;
  /**
   * Asked only when the config leaves `workloadCertificates` unset: does the cluster serve
   * PodCertificateRequest (inject/pod-certificate-discovery.ts)? Without it, `none`.
   */
  podCertificatesServed?: () => Promise<boolean>;
}

/** Loads and validates config and templates; throws UserError on anything invalid (fail at startup, not at admission). */
export async function loadInjector(opts: LoadInjectorOptions = {}): Promise<Injector> {
  let config: InjectorConfig;
  if (opts.configPath) {
    let text: string;
    try {
      text = await readFile(opts.configPath, 'utf8');
    } catch (err) {
      throw new UserError(`injector config ${opts.configPath}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    config = parseInjectorConfig(text, opts.configPath);
  } else {
    config = opts.config === undefined ? structuredClone(DEFAULT_CONFIG) : injectorConfigFrom(opts.config);
  }
  if (config.workloadCertificates === undefined) config.workloadCertificates = opts.podCertificatesServed && (await opts.podCertificatesServed()) ? 'podCertificate' : 'none';
  validateCaptureDefaults(config.capture, opts.configPath ?? 'injector config');
  const componentProblem = config.proxy.componentLogLevel === '' ? undefined : componentLogLevelProblem(config.proxy.componentLogLevel);
  if (componentProblem) throw new UserError(`${opts.configPath ?? 'injector config'}: proxy.componentLogLevel: ${componentProblem}`);
  const templates = await loadTemplates(opts.templatesDir);
  const policy = {
    revision: config.revision,
    policy: config.policy,
    neverInjectSelector: config.neverInjectSelector,
    alwaysInjectSelector: config.alwaysInjectSelector,
    neverInjected: neverInjectedNamespaces(opts.controlPlaneNamespace ?? DEFAULT_NAMESPACE),
  };
  const injector: Injector = { revision: config.revision, config, templates, policy };
  // Render once with real values: a broken template is a startup error, not an admission failure.
  const sample: Pod = { metadata: { name: 'template-check', namespace: 'default', labels: { app: 'template-check' } }, spec: { containers: [{ name: 'app', image: 'app' }] } };
  validateRendered(templates, sidecarValues(injector, sample, undefined, captureSettings(config.capture, undefined), { proxyConfig: config.proxyConfig, hold: true, probers: {}, probersText: '', prometheusEnv: undefined }));
  return injector;
}

/** `-g` only when the config separates the proxy's group from its user (istio-iptables defaults -g to -u). */
function explicitGid(c: InjectorConfig): number | undefined {
  return c.proxy.gid === c.proxy.uid ? undefined : c.proxy.gid;
}

/**
 * Rendering the bootstrap dominates an admission. Its text depends on the pod's
 * labels only through node metadata (LABELS, and the app label in the node's
 * cluster), and labels differ between rollouts (pod-template-hash) while the
 * rest (config, ports, probes, scrape target) stays. So the memo keeps, per
 * injector and per everything but the labels, the text rendered with a
 * sentinel label, cut around the two places labels land; a pod's bootstrap is
 * those pieces with its labels' JSON put back. Byte-identical to rendering
 * (test/bootstrap/speed.test.ts checks it on generated inputs).
 */
const BOOTSTRAP_CACHE_SIZE = 256;
/** Where the sentinel stands; it cannot be written by a pod in the places it is looked for (see shapeOf). */
const LABEL_SENTINEL = '\u0000tandem-bootstrap-labels\u0000';
const SENTINEL_JSON = JSON.stringify(LABEL_SENTINEL).slice(1, -1);
const LABELS_OPEN = '{"app":"';
const LABELS_CLOSE = '"}';
// The pieces around the workload name (in the node's cluster) and the LABELS object; null when the
// pod's own data (a probe path, a header) contains the sentinel text and the cut would be ambiguous.
type BootstrapShape = { head: string; middle: string; tail: string } | null;
// Boxed: lru-cache keeps no null values, and "ambiguous, render each time" is an answer worth keeping.
const bootstrapCache = new WeakMap<Injector, LRUCache<string, { shape: BootstrapShape }>>();

const SERVICE_ACCOUNT_REF = '$(SERVICE_ACCOUNT)';

function bootstrapText(inj: Injector, labels: Record<string, string>, appPorts: number[], probers: AppProbers, prometheusEnv: string | undefined): string {
  const c = inj.config;
  return JSON.stringify(
    renderBootstrap({
      // The kubelet expands these from the sidecar's downward-API environment.
      podName: '$(POD_NAME)',
      podNamespace: '$(POD_NAMESPACE)',
      podIp: '$(INSTANCE_IP)',
      serviceAccount: SERVICE_ACCOUNT_REF,
      xdsAddress: c.xdsAddress,
      clusterId: c.clusterId,
      meshId: c.meshId,
      labels,
      appPorts,
      ...(Object.keys(probers).length > 0 ? { appProbes: probers as Record<string, unknown> } : {}),
      ...(prometheusEnv ? { prometheusScrape: JSON.parse(prometheusEnv) as PrometheusScrape } : {}),
      ...(workloadCertificatesOn(c) ? { workloadCredentialsDir: WORKLOAD_CREDENTIALS_DIR } : {}),
    }),
  );
}

/**
 * The sentinel's JSON text is found exactly twice when only the two label sites hold it: at the
 * start of the cluster name (the sentinel is the app label, so the workload), and as the only
 * label. Pod data containing the same text makes the count differ: no shape, render each time.
 */
function shapeOf(text: string): BootstrapShape {
  const parts = text.split(SENTINEL_JSON);
  if (parts.length !== 3) return null;
  const [head, middle, tail] = parts as [string, string, string];
  if (!head.endsWith('"cluster":"') || !middle.endsWith(LABELS_OPEN) || !tail.startsWith(LABELS_CLOSE)) return null;
  return { head, middle: middle.slice(0, -LABELS_OPEN.length), tail: tail.slice(LABELS_CLOSE.length) };
}

function cachedBootstrap(inj: Injector, labels: Record<string, string>, appPorts: number[], probers: AppProbers, probersText: string, prometheusEnv: string | undefined): string {
  // The workload name is the one renderBootstrap picks; anything but a string is left to it.
  const workload = labels['app'] ?? labels['app.kubernetes.io/name'] ?? SERVICE_ACCOUNT_REF;
  if (typeof workload !== 'string') return bootstrapText(inj, labels, appPorts, probers, prometheusEnv);
  let cache = bootstrapCache.get(inj);
  if (!cache) bootstrapCache.set(inj, (cache = new LRUCache({ max: BOOTSTRAP_CACHE_SIZE })));
  // The scrape target changes the 15020 listener, so it is part of the key.
  const key = JSON.stringify([appPorts, prometheusEnv ?? '']) + probersText;
  let entry = cache.get(key);
  if (entry === undefined) cache.set(key, (entry = { shape: shapeOf(bootstrapText(inj, { app: LABEL_SENTINEL }, appPorts, probers, prometheusEnv)) }));
  const shape = entry.shape;
  if (shape === null) return bootstrapText(inj, labels, appPorts, probers, prometheusEnv);
  // JSON escapes character by character, so the name's escaped text is its place in the cluster string.
  return shape.head + JSON.stringify(workload).slice(1, -1) + shape.middle + JSON.stringify(labels) + shape.tail;
}

/**
 * The sidecar's bootstrap JSON for a pod with these labels, app ports, rewritten probes and
 * Prometheus target (ISTIO_PROMETHEUS_ANNOTATIONS text): what injection embeds in the proxy.
 */
export function sidecarBootstrap(inj: Injector, labels: Record<string, string>, appPorts: number[], probers: AppProbers, prometheusEnv?: string): string {
  return cachedBootstrap(inj, labels, appPorts, probers, Object.keys(probers).length > 0 ? probersJson(probers) : '', prometheusEnv);
}

/** The values that do not depend on the pod: all a named template's metadata may use. */
function configLevelValues(c: InjectorConfig): Record<string, unknown> {
  return {
    initImage: c.images.init,
    imagePullPolicy: c.images.pullPolicy,
    proxyUID: c.proxy.uid,
    proxyGID: c.proxy.gid,
    revision: c.revision,
    xdsAddress: c.xdsAddress,
    clusterId: c.clusterId,
    meshId: c.meshId,
    // With certificates delivered, a proxyless (grpc template) workload serves mTLS as a sidecar's does.
    workloadTlsMode: workloadCertificatesOn(c) ? 'istio' : undefined,
  };
}

/** Per-pod facts the values depend on beyond the pod itself. */
interface PodExtras {
  proxyConfig: ProxyConfigSettings;
  /** the proxy must hold the app with a postStart hook (classic sidecar) */
  hold: boolean;
  probers: AppProbers;
  /** probersJson(probers), '' when none: the sidecar's variable and part of the bootstrap cache key */
  probersText: string;
  /** the app's original Prometheus target (ISTIO_PROMETHEUS_ANNOTATIONS), merged on :15020 */
  prometheusEnv: string | undefined;
}

/** `annotations`: the pod's merged with what named templates' metadata set, as capture and proxy config read them. */
function sidecarValues(inj: Injector, pod: Pod, annotations: Record<string, string> | undefined, capture: ReturnType<typeof captureSettings>, x: PodExtras): SidecarValues {
  const c = inj.config;
  const proxy = proxyOptions(c, annotations);
  const resources = resourcesFromAnnotations(annotations);
  const labels = pod.metadata?.labels ?? {};
  const appPorts = (pod.spec?.containers ?? []).flatMap((ct) => (ct.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort));
  const bootstrap = cachedBootstrap(inj, labels, appPorts, x.probers, x.probersText, x.prometheusEnv);
  const drain = x.proxyConfig.terminationDrainSeconds;
  const certs = workloadCertificatesOn(c);
  return {
    initImage: c.images.init,
    proxyImage: proxy.image,
    imagePullPolicy: c.images.pullPolicy,
    iptablesArgs: iptablesArgs(capture, c.proxy.uid, explicitGid(c)),
    initResources: resources ?? c.init.resources,
    proxyResources: resources ?? c.proxy.resources,
    proxyUID: c.proxy.uid,
    proxyGID: c.proxy.gid,
    bootstrap,
    proxyLogLevel: proxy.logLevel,
    componentLogLevelArgs: proxy.componentLogLevel === '' ? [] : ['--component-log-level', proxy.componentLogLevel],
    concurrency: String(x.proxyConfig.concurrency),
    // 0 means "every core", which is Envoy's own default when the flag is absent.
    concurrencyArgs: x.proxyConfig.concurrency > 0 ? ['--concurrency', String(x.proxyConfig.concurrency)] : [],
    drainArgs: drain > 0 ? ['--drain-time-s', String(drain), '--drain-strategy', 'immediate'] : [],
    proxyLifecycle: proxyLifecycle({ hold: x.hold, drainSeconds: drain }),
    revision: c.revision,
    xdsAddress: c.xdsAddress,
    clusterId: c.clusterId,
    meshId: c.meshId,
    // Lists, or absent (a spread adds nothing, a whole-value key is dropped) without certificates.
    workloadCertsVolumes: certs ? [workloadCertsVolume(c)] : undefined,
    workloadCertsMounts: certs ? [workloadCertsMount()] : undefined,
    workloadTlsMode: certs ? 'istio' : undefined,
    // Rendered only when a template (grpc.yaml) reads it: most pods never need it.
    get grpcBootstrap(): string {
      return JSON.stringify(
        renderGrpcBootstrap({
          podName: '$(POD_NAME)', podNamespace: '$(POD_NAMESPACE)', podIp: '$(INSTANCE_IP)', serviceAccount: SERVICE_ACCOUNT_REF,
          xdsAddress: c.xdsAddress, clusterId: c.clusterId, meshId: c.meshId, labels,
        }),
      );
    },
  };
}

/** Pods are plain JSON (they arrive as JSON); this is several times faster than structuredClone. */
function cloneJson<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** A pod whose parts injection changes are objects and lists of objects, as every pod the apiserver sends. */
function wellShaped(pod: Pod): boolean {
  const { metadata, spec } = pod as { metadata?: unknown; spec?: unknown };
  if (metadata != null && !isObject(metadata)) return false;
  if (spec == null) return true;
  if (!isObject(spec)) return false;
  for (const key of ['containers', 'initContainers', 'volumes']) {
    const list = spec[key];
    if (list == null) continue;
    if (!Array.isArray(list)) return false;
    for (const item of list) if (!isObject(item)) return false;
  }
  return true;
}

/**
 * The pod injection works on. Copying the whole pod was the largest cost of an admission; instead
 * only what injection assigns to or changes in place gets its own copy: the pod, its metadata and
 * spec, and the spec's container, init container and volume lists. Containers themselves, and all
 * else, are shared with the input, which is therefore never written to (the probe rewrite copies
 * a container before changing it); the admission diff skips shared subtrees at once.
 * Manual injection reads YAML, whose aliases make one object appear in several places, and its
 * YAML writer turns objects that appear twice into anchors: there, and for pods of odd shapes,
 * a deep copy keeps the output exactly as it always was.
 */
function workingCopy(pod: Pod, mode: InjectionContext['mode']): Pod {
  if (mode !== 'webhook' || !wellShaped(pod)) return cloneJson(pod);
  const out: Pod = { ...pod };
  if (pod.metadata) out.metadata = { ...pod.metadata };
  if (pod.spec) {
    const spec = (out.spec = { ...pod.spec });
    if (spec.containers) spec.containers = [...spec.containers];
    if (spec.initContainers) spec.initContainers = [...spec.initContainers];
    if (spec.volumes) spec.volumes = [...spec.volumes];
  }
  return out;
}

const PROXY_NAME = 'istio-proxy';

/** Only probes tandem's Envoy bootstrap can serve on :15020 are rewritten; the rest keep working as written. */
function canForward(key: string, prober: AppProbers[string]): boolean {
  return parseAppProbe(key, prober) !== undefined;
}

function nativeSidecar(inj: Injector, annotations: Record<string, string>): boolean {
  const raw = annotations[NATIVE_SIDECAR_ANNOTATION];
  if (raw === undefined) return inj.config.nativeSidecars;
  const b = parseIstioBool(raw);
  if (b === undefined) throw new UserError(`invalid annotation ${NATIVE_SIDECAR_ANNOTATION}="${raw}": expected "true" or "false"`);
  return b;
}

/** Pure: decides and, when injecting, returns a new injected pod. Throws UserError for invalid annotations. */
export function injectPod(pod: Pod, ctx: InjectionContext, injector: Injector): InjectionOutcome {
  const decision = decide(pod, ctx.namespace, injector.policy);
  if (!decision.inject) return { decision, pod, warnings: [] };

  const warnings: string[] = [];
  const out = workingCopy(pod, ctx.mode);
  out.metadata ??= {};
  out.spec ??= { containers: [] };
  const spec = out.spec;
  spec.containers ??= [];
  const config = injector.config;
  const t = injector.templates;
  // Before the previous injection goes: its proxy recorded the original probes of already-rewritten ones.
  const existing = [...(spec.initContainers ?? []), ...spec.containers];
  const previous = previousProbers(existing);
  const previousScrape = envOf(existing, PROMETHEUS_ENV);
  removePreviousInjection(out, warnings);

  let annotations: Record<string, string> = { ...(out.metadata.annotations ?? {}) };
  delete annotations[STATUS_ANNOTATION];
  delete annotations[OVERRIDES_ANNOTATION];
  const labels: Record<string, string> = { ...(out.metadata.labels ?? {}) };

  const selected = requestedTemplates(annotations[TEMPLATES_ANNOTATION], t.named);
  const withSidecar = selected.includes(SIDECAR_TEMPLATE);
  const overlays = selected.filter((n) => n !== SIDECAR_TEMPLATE).map((n) => t.named.get(n) as NamedTemplate);
  // Template metadata first, and it wins: its annotations steer what follows, as Istio's template merge does.
  if (overlays.length > 0) {
    const cv = configLevelValues(config);
    for (const o of overlays) {
      const m = o.metadata(cv);
      Object.assign(annotations, m.annotations);
      Object.assign(labels, m.labels);
    }
  }

  const capture = captureSettings(config.capture, annotations);
  // CNI mode: the plugin reads the capture settings from the pod (Istio's template writes the same).
  if (withSidecar && config.cni) Object.assign(annotations, cniAnnotations(capture, annotations));
  const native = nativeSidecar(injector, annotations);
  const proxyConfig = podProxyConfig(config.proxyConfig, annotations, warnings);
  // A native sidecar's startupProbe already holds the containers after it; a classic one needs the postStart wait.
  const hold = withSidecar && proxyConfig.holdApplicationUntilProxyStarts && !native;
  const grace = spec.terminationGracePeriodSeconds ?? 30;
  if (withSidecar && proxyConfig.terminationDrainSeconds >= grace) {
    warnings.push(`terminationDrainDuration ${proxyConfig.terminationDrainSeconds}s is not shorter than the pod's terminationGracePeriodSeconds (${grace}s): the proxy is killed before its drain ends`);
  }

  // Probe rewrite and metrics merge point at the proxy's status port: only with a proxy.
  let probers: AppProbers = {};
  if (withSidecar && boolAnnotation(annotations, REWRITE_PROBES_ANNOTATION, config.rewriteAppHTTPProbers)) {
    const r = rewriteAppProbesCopying([...spec.containers, ...(spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')], PROXY_NAME, previous, canForward);
    probers = r.probers;
    if (r.replaced.size > 0) {
      const put = (c: V1Container): V1Container => r.replaced.get(c) ?? c;
      spec.containers = spec.containers.map(put);
      if (spec.initContainers) spec.initContainers = spec.initContainers.map(put);
    }
  }
  let prometheus = withSidecar ? prometheusMerge(annotations, config.enablePrometheusMerge) : undefined;
  // Re-injection: the annotations already point at the proxy; the original target lives on in the old proxy.
  if (withSidecar && !prometheus && previousScrape !== undefined && annotations['prometheus.io/port'] === MERGED_METRICS_PORT) prometheus = { annotations, env: previousScrape };
  else if (prometheus) {
    annotations = prometheus.annotations;
  }

  if (withSidecar) {
    // Labels first: the proxy's bootstrap carries them as node metadata.
    const workload = ctx.workload ?? workloadOf(out);
    const canonical = canonicalLabels(labels, workload);
    labels[TLS_MODE_LABEL] ??= 'istio';
    labels[CANONICAL_NAME_LABEL] ??= canonical.name;
    labels[CANONICAL_REVISION_LABEL] ??= canonical.revision;
  }
  out.metadata.labels = labels;

  const probersText = Object.keys(probers).length > 0 ? probersJson(probers) : '';
  const values = sidecarValues(injector, out, annotations, capture, { proxyConfig, hold, probers, probersText, prometheusEnv: prometheus?.env });
  const injected = { initContainers: [] as string[], containers: [] as string[], volumes: [] as string[] };
  const originals: Overrides = { containers: [], initContainers: [] };
  if (withSidecar) {
    const r = addSidecar(injector, spec, values, { capture, native, hold, proxyConfig, probersText, prometheusEnv: prometheus?.env }, warnings);
    injected.initContainers.push(...r.initContainers);
    injected.containers.push(...r.containers);
    injected.volumes.push(...r.volumes);
    originals.containers.push(...r.user.containers);
    originals.initContainers.push(...r.user.initContainers);
    const firstApp = spec.containers.find((c) => c.name !== PROXY_NAME);
    if (firstApp) {
      annotations[DEFAULT_CONTAINER_ANNOTATION] ??= firstApp.name;
      annotations[DEFAULT_LOGS_CONTAINER_ANNOTATION] ??= firstApp.name;
    }
    annotations[REV_LABEL] = injector.revision;
  }
  for (const o of overlays) {
    const before = new Set([...injected.containers, ...injected.initContainers]);
    const apps = spec.containers.map((c) => c.name).filter((n) => n !== PROXY_NAME && !before.has(n));
    const r = applyOverlay(spec as { containers: V1Container[] }, o.spec(values), apps, o.source);
    const add = (list: string[], names: string[]) => list.push(...names.filter((n) => !list.includes(n)));
    add(injected.initContainers, r.initContainers);
    add(injected.containers, r.containers);
    add(injected.volumes, r.volumes);
    // The pod's own version of what an overlay changed, so that re-injection starts from it; what an
    // earlier step injected has no such version.
    for (const key of ['containers', 'initContainers'] as const) {
      for (const c of r.originals[key]) if (!before.has(c.name) && !originals[key].some((x) => x.name === c.name)) originals[key].push(c);
    }
  }
  if (originals.containers.length + originals.initContainers.length > 0) annotations[OVERRIDES_ANNOTATION] = JSON.stringify(originals);

  const status: InjectionStatus = {
    initContainers: injected.initContainers.length > 0 ? injected.initContainers : null,
    containers: injected.containers.length > 0 ? injected.containers : null,
    volumes: injected.volumes.length > 0 ? injected.volumes : null,
    imagePullSecrets: null,
    revision: injector.revision,
  };
  annotations[STATUS_ANNOTATION] = JSON.stringify(status);
  out.metadata.annotations = annotations;
  return { decision, pod: out, warnings };
}

interface SidecarPlan {
  capture: ReturnType<typeof captureSettings>;
  native: boolean;
  hold: boolean;
  proxyConfig: ProxyConfigSettings;
  probersText: string;
  prometheusEnv: string | undefined;
}

/** The built-in `sidecar` template: capture init container, proxy, volumes, laid out for native or classic sidecars. */
function addSidecar(injector: Injector, spec: NonNullable<Pod['spec']>, values: SidecarValues, plan: SidecarPlan, warnings: string[]): { initContainers: string[]; containers: string[]; volumes: string[]; user: Overrides } {
  const t = injector.templates;
  const { capture, native, hold, proxyConfig, probersText } = plan;
  let proxy = t.proxy(values);
  for (const [k, v] of Object.entries(proxyConfig.proxyMetadata)) setEnv(proxy, k, v);
  const cni = injector.config.cni;
  // CNI mode: the node's plugin captures, so no privileged istio-init; NONE captures nothing either way.
  let init = cni || capture.interceptionMode === 'NONE' ? undefined : t.init(values);
  const user = takeUserOverrides(spec, [proxy.name, ...(init ? [init.name] : []), ...(cni ? [VALIDATION_CONTAINER] : [])]);
  const userAll = [...user.containers, ...user.initContainers];
  for (const u of userAll) if (u.name === proxy.name) proxy = mergeUserContainer(proxy, u);
  // After the user's fields: these describe this injection's rewrite, a stale copy must not win.
  if (probersText !== '') setEnv(proxy, KUBE_APP_PROBERS_ENV, probersText);
  if (plan.prometheusEnv !== undefined) setEnv(proxy, PROMETHEUS_ENV, plan.prometheusEnv);
  // Capture must exempt the uid the proxy really runs as, which the user's override may change (as Istio does).
  const proxyUid = proxy.securityContext?.runAsUser ?? injector.config.proxy.uid;
  if (init && proxyUid !== injector.config.proxy.uid) init = t.init({ ...values, iptablesArgs: iptablesArgs(capture, proxyUid, explicitGid(injector.config)) });
  for (const u of userAll) if (init && u.name === init.name) init = mergeUserContainer(init, u);
  // The check runs as the uid/gid the proxy really runs as (the rules exempt and redirect by them), as Istio's does.
  let validation: V1Container | undefined;
  if (cni && capture.interceptionMode !== 'NONE') {
    const proxyGid = proxy.securityContext?.runAsGroup ?? injector.config.proxy.gid;
    validation = t.validation({ ...values, proxyUID: proxyUid, proxyGID: proxyGid });
    for (const u of userAll) if (u.name === validation.name) validation = mergeUserContainer(validation, u);
  }
  if (cni) {
    // CNI mode is for namespaces that enforce Pod Security "restricted", which asks every container
    // for a seccomp profile when the pod sets none; Istio's proxy sets none (a stated difference).
    const sc = (proxy.securityContext ??= {});
    sc.seccompProfile ??= { type: 'RuntimeDefault' };
  }
  if (capture.interceptionMode === 'TPROXY') {
    // TPROXY listeners need IP_TRANSPARENT: Istio runs the proxy as root with NET_ADMIN in this mode.
    const sc = (proxy.securityContext ??= {});
    sc.capabilities = { ...sc.capabilities, add: [...new Set([...(sc.capabilities?.add ?? []), 'NET_ADMIN'])] };
    sc.runAsUser = 0;
    sc.runAsNonRoot = false;
  }
  const appInit = spec.initContainers ?? [];

  let injectedInit: string[] = [];
  let injectedContainers: string[] = [];
  // CNI mode's check goes first, as Istio places it: the plugin captured the pod before any container
  // ran, so no app init container may run before the redirect is proven; and in native mode it must
  // run before the proxy, which then owns the capture ports the check listens on.
  const first = validation ? [validation] : [];
  if (native) {
    proxy.restartPolicy = 'Always';
    // Capture first, then the proxy, then the app's init containers (which thus have a working mesh).
    spec.initContainers = [...first, ...(init ? [init] : []), proxy, ...appInit];
    injectedInit = [...first.map((c) => c.name), ...(init ? [init.name] : []), proxy.name];
  } else {
    delete proxy.restartPolicy;
    // Classic layout, as Istio: capture after the app's init containers, proxy after the app containers.
    if (init || validation) spec.initContainers = [...first, ...appInit, ...(init ? [init] : [])];
    // Holding: the kubelet starts containers in order and waits for each postStart hook.
    spec.containers = hold ? [proxy, ...spec.containers] : [...spec.containers, proxy];
    injectedInit = [...first.map((c) => c.name), ...(init ? [init.name] : [])];
    injectedContainers = [proxy.name];
  }

  const volumes = t.volumes(values);
  const ours = new Set(volumes.map((v) => v.name));
  const clashing = (spec.volumes ?? []).filter((v) => ours.has(v.name));
  if (clashing.length > 0) warnings.push(`pod volumes ${clashing.map((v) => v.name).join(', ')} replaced by the injected volumes of the same name`);
  const podVolumes: V1Volume[] = [...(spec.volumes ?? []).filter((v) => !ours.has(v.name)), ...volumes];
  if (podVolumes.length > 0) spec.volumes = podVolumes;
  return { initContainers: injectedInit, containers: injectedContainers, volumes: volumes.map((v) => v.name), user };
}
