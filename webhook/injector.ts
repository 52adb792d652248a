import { readFile } from 'node:fs/promises';
import type { V1Volume } from '@kubernetes/client-node';
import { renderBootstrap } from '../control-plane/bootstrap.js';
import { UserError } from '../common/errors.js';
import { captureSettings, iptablesArgs, validateCaptureDefaults } from './capture.js';
import { canonicalLabels, workloadOf } from './canonical.js';
import { DEFAULT_CONFIG, injectorConfigFrom, parseInjectorConfig, type InjectorConfig } from './config.js';
import {
  CANONICAL_NAME_LABEL, CANONICAL_REVISION_LABEL, DEFAULT_CONTAINER_ANNOTATION, DEFAULT_LOGS_CONTAINER_ANNOTATION,
  NATIVE_SIDECAR_ANNOTATION, REV_LABEL, STATUS_ANNOTATION, TLS_MODE_LABEL, parseIstioBool,
} from './labels.js';
import { OVERRIDES_ANNOTATION, mergeUserContainer, takeUserOverrides } from './overrides.js';
import { decide } from './policy.js';
import { componentLogLevelProblem, proxyOptions } from './proxy-options.js';
import { proxyResources, resourcesFromAnnotations } from './resources.js';
import { removePreviousInjection, type InjectionStatus } from './status.js';
import { loadTemplates, validateRendered, type SidecarTemplates, type SidecarValues } from './templates.js';
import type { InjectionContext, InjectionOutcome, Pod } from './types.js';

/** A loaded, validated injector: config plus precompiled templates. Build it with loadInjector. */
export interface Injector {
  readonly revision: string;
  readonly config: InjectorConfig;
  readonly templates: SidecarTemplates;
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
  validateCaptureDefaults(config.capture, opts.configPath ?? 'injector config');
  const componentProblem = config.proxy.componentLogLevel === '' ? undefined : componentLogLevelProblem(config.proxy.componentLogLevel);
  if (componentProblem) throw new UserError(`${opts.configPath ?? 'injector config'}: proxy.componentLogLevel: ${componentProblem}`);
  const templates = await loadTemplates(opts.templatesDir);
  const injector: Injector = { revision: config.revision, config, templates };
  // Render once with real values: a broken template is a startup error, not an admission failure.
  const sample: Pod = { metadata: { name: 'template-check', namespace: 'default', labels: { app: 'template-check' } }, spec: { containers: [{ name: 'app', image: 'app' }] } };
  validateRendered(templates, sidecarValues(injector, sample, captureSettings(config.capture, undefined)));
  return injector;
}

/** `-g` only when the config separates the proxy's group from its user (istio-iptables defaults -g to -u). */
function explicitGid(c: InjectorConfig): number | undefined {
  return c.proxy.gid === c.proxy.uid ? undefined : c.proxy.gid;
}

/**
 * Rendering the bootstrap dominates an admission; it depends only on the config
 * and the pod's labels and ports, which all replicas of a workload share. A
 * small per-injector memo keeps the hot path cheap without changing results.
 */
const BOOTSTRAP_CACHE_SIZE = 256;
const bootstrapCache = new WeakMap<Injector, Map<string, string>>();

function cachedBootstrap(inj: Injector, labels: Record<string, string>, appPorts: number[]): string {
  let cache = bootstrapCache.get(inj);
  if (!cache) bootstrapCache.set(inj, (cache = new Map()));
  const key = JSON.stringify([labels, appPorts]);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const c = inj.config;
  const json = JSON.stringify(
    renderBootstrap({
      // The kubelet expands these from the sidecar's downward-API environment.
      podName: '$(POD_NAME)',
      podNamespace: '$(POD_NAMESPACE)',
      podIp: '$(INSTANCE_IP)',
      serviceAccount: '$(SERVICE_ACCOUNT)',
      xdsAddress: c.xdsAddress,
      clusterId: c.clusterId,
      meshId: c.meshId,
      labels,
      appPorts,
      logLevel: c.proxy.logLevel,
    }),
  );
  if (cache.size >= BOOTSTRAP_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(key, json);
  return json;
}

function sidecarValues(inj: Injector, pod: Pod, capture: ReturnType<typeof captureSettings>): SidecarValues {
  const c = inj.config;
  const proxy = proxyOptions(c, pod.metadata?.annotations);
  const labels = pod.metadata?.labels ?? {};
  const appPorts = (pod.spec?.containers ?? []).flatMap((ct) => (ct.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort));
  const bootstrap = cachedBootstrap(inj, labels, appPorts);
  return {
    initImage: c.images.init,
    proxyImage: proxy.image,
    imagePullPolicy: c.images.pullPolicy,
    iptablesArgs: iptablesArgs(capture, c.proxy.uid, explicitGid(c)),
    initResources: resourcesFromAnnotations(pod.metadata?.annotations) ?? c.init.resources,
    proxyResources: proxyResources(c.proxy.resources, pod.metadata?.annotations),
    proxyUID: c.proxy.uid,
    proxyGID: c.proxy.gid,
    bootstrap,
    proxyLogLevel: proxy.logLevel,
    componentLogLevelArgs: proxy.componentLogLevel === '' ? [] : ['--component-log-level', proxy.componentLogLevel],
    concurrency: '2',
    revision: c.revision,
    xdsAddress: c.xdsAddress,
    clusterId: c.clusterId,
    meshId: c.meshId,
  };
}

/** Pods are plain JSON (they arrive as JSON); this is several times faster than structuredClone. */
function cloneJson<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
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
  const decision = decide(pod, ctx.namespace, injector.config);
  if (!decision.inject) return { decision, pod, warnings: [] };

  const warnings: string[] = [];
  const out = cloneJson(pod);
  out.metadata ??= {};
  out.spec ??= { containers: [] };
  const spec = out.spec;
  spec.containers ??= [];
  removePreviousInjection(out, warnings);

  const annotations: Record<string, string> = { ...(out.metadata.annotations ?? {}) };
  delete annotations[STATUS_ANNOTATION];
  const labels: Record<string, string> = { ...(out.metadata.labels ?? {}) };
  const templatesAnnotation = annotations['inject.istio.io/templates'];
  if (templatesAnnotation !== undefined && templatesAnnotation.split(',').some((t) => t.trim() !== 'sidecar')) {
    warnings.push(`annotation inject.istio.io/templates="${templatesAnnotation}" is not supported yet; injected the default sidecar`);
  }

  const capture = captureSettings(injector.config.capture, annotations);
  const native = nativeSidecar(injector, annotations);

  // Labels first: the proxy's bootstrap carries them as node metadata.
  const workload = ctx.workload ?? workloadOf(out);
  const canonical = canonicalLabels(labels, workload);
  labels[TLS_MODE_LABEL] ??= 'istio';
  labels[CANONICAL_NAME_LABEL] ??= canonical.name;
  labels[CANONICAL_REVISION_LABEL] ??= canonical.revision;
  out.metadata.labels = labels;

  const values = sidecarValues(injector, out, capture);
  const t = injector.templates;
  let proxy = t.proxy(values);
  let init = capture.interceptionMode === 'NONE' ? undefined : t.init(values);
  const user = takeUserOverrides(spec, [proxy.name, ...(init ? [init.name] : [])]);
  const userAll = [...user.containers, ...user.initContainers];
  if (userAll.length > 0) annotations[OVERRIDES_ANNOTATION] = JSON.stringify(user);
  for (const u of userAll) if (u.name === proxy.name) proxy = mergeUserContainer(proxy, u);
  // Capture must exempt the uid the proxy really runs as, which the user's override may change (as Istio does).
  const proxyUid = proxy.securityContext?.runAsUser ?? injector.config.proxy.uid;
  if (init && proxyUid !== injector.config.proxy.uid) init = t.init({ ...values, iptablesArgs: iptablesArgs(capture, proxyUid, explicitGid(injector.config)) });
  for (const u of userAll) if (init && u.name === init.name) init = mergeUserContainer(init, u);
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
  if (native) {
    proxy.restartPolicy = 'Always';
    // Capture first, then the proxy, then the app's init containers (which thus have a working mesh).
    spec.initContainers = [...(init ? [init] : []), proxy, ...appInit];
    injectedInit = [...(init ? [init.name] : []), proxy.name];
  } else {
    delete proxy.restartPolicy;
    // Classic layout, as Istio: capture after the app's init containers, proxy after the app containers.
    if (init) spec.initContainers = [...appInit, init];
    spec.containers = [...spec.containers, proxy];
    injectedInit = init ? [init.name] : [];
    injectedContainers = [proxy.name];
  }

  const volumes = t.volumes(values);
  const ours = new Set(volumes.map((v) => v.name));
  const clashing = (spec.volumes ?? []).filter((v) => ours.has(v.name));
  if (clashing.length > 0) warnings.push(`pod volumes ${clashing.map((v) => v.name).join(', ')} replaced by the injected volumes of the same name`);
  const podVolumes: V1Volume[] = [...(spec.volumes ?? []).filter((v) => !ours.has(v.name)), ...volumes];
  if (podVolumes.length > 0) spec.volumes = podVolumes;

  const firstApp = spec.containers.find((c) => c.name !== proxy.name);
  if (firstApp) {
    annotations[DEFAULT_CONTAINER_ANNOTATION] ??= firstApp.name;
    annotations[DEFAULT_LOGS_CONTAINER_ANNOTATION] ??= firstApp.name;
  }
  annotations[REV_LABEL] = injector.revision;
  const status: InjectionStatus = {
    initContainers: injectedInit.length > 0 ? injectedInit : null,
    containers: injectedContainers.length > 0 ? injectedContainers : null,
    volumes: volumes.length > 0 ? volumes.map((v) => v.name) : null,
    imagePullSecrets: null,
    revision: injector.revision,
  };
  annotations[STATUS_ANNOTATION] = JSON.stringify(status);
  out.metadata.annotations = annotations;
  return { decision, pod: out, warnings };
}
