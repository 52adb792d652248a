import { parse as parseYaml } from 'yaml';
import { DEFAULT_XDS_ADDRESS } from '../bootstrap/sidecar.js';
import { UserError } from '../common/errors.js';
import { DEFAULT_PROXY_CONFIG, mergeProxyConfig, type ProxyConfigSettings } from '../config/mesh/proxy-config.js';
import { selectorProblem, type LabelSelector } from '../common/label-selectors.js';
import { isDns1123Label } from '../common/names.js';
import { isObject } from '../common/objects.js';

/**
 * The injector's configuration file (YAML). Every field is optional: missing
 * fields take the embedded defaults below. Unknown fields are errors, so a typo
 * fails at startup instead of silently meaning "default".
 */
export type InterceptionMode = 'REDIRECT' | 'TPROXY' | 'NONE';
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
/** How pods get their workload certificate: Kubernetes Pod Certificates (no agent), or not at all. */
export type WorkloadCertificates = 'podCertificate' | 'none';
export const WORKLOAD_CERTIFICATE_MODES: readonly WorkloadCertificates[] = ['podCertificate', 'none'];
/** The apiserver's bounds for a podCertificate source's maxExpirationSeconds (1 hour to 91 days). */
export const MIN_POD_CERTIFICATE_SECONDS = 3600;
export const MAX_POD_CERTIFICATE_SECONDS = 7_862_400;

export interface ResourceList {
  cpu?: string;
  memory?: string;
  'ephemeral-storage'?: string;
}

export interface Resources {
  requests?: ResourceList;
  limits?: ResourceList;
}

export interface CaptureDefaults {
  interceptionMode: InterceptionMode;
  includeOutboundIPRanges: string;
  excludeOutboundIPRanges: string;
  includeInboundPorts: string;
  excludeInboundPorts: string;
  includeOutboundPorts: string;
  excludeOutboundPorts: string;
  kubevirtInterfaces: string;
}

export interface InjectorConfig {
  policy: 'enabled' | 'disabled';
  neverInjectSelector: LabelSelector[];
  alwaysInjectSelector: LabelSelector[];
  revision: string;
  /** Proxy as an init container with restartPolicy Always (Kubernetes >= 1.29). */
  nativeSidecars: boolean;
  /**
   * CNI mode (Istio's istio_cni.enabled): the node's tandem-cni plugin captures the traffic, so no
   * privileged istio-init; the pod gets the capture annotations the plugin reads and the
   * unprivileged istio-validation init container (`tandem cni-validate`).
   */
  cni: boolean;
  images: { proxy: string; init: string; pullPolicy?: PullPolicy };
  /** host:port of tandem's xDS server, as seen from the pods. */
  xdsAddress: string;
  clusterId: string;
  meshId: string;
  /** componentLogLevel: Envoy's --component-log-level (e.g. misc:error), '' for none */
  proxy: { uid: number; gid: number; logLevel: string; componentLogLevel: string; resources: Resources };
  /** Resources of the capture init container; defaults to the proxy's, as in Istio. */
  init: { resources: Resources };
  capture: CaptureDefaults;
  /** Rewrite app probes to the proxy's status port (Istio's sidecarInjectorWebhook.rewriteAppHTTPProbe). */
  rewriteAppHTTPProbers: boolean;
  /** Point prometheus.io/* scrape annotations at the proxy (Istio's meshConfig.enablePrometheusMerge). */
  enablePrometheusMerge: boolean;
  /** Mesh-wide ProxyConfig (Istio's meshConfig.defaultConfig), under each pod's proxy.istio.io/config. */
  proxyConfig: ProxyConfigSettings;
  /**
   * `podCertificate`: a projected volume (podCertificate source for tandem's signer, plus the
   * istio-ca-root-cert ConfigMap) mounted into the proxy. Absent from the file: decided at start by
   * whether the cluster serves certificates.k8s.io/v1beta1 PodCertificateRequest (loadInjector's
   * `podCertificatesServed`); `none` where nothing asks (offline injection, no cluster).
   */
  workloadCertificates?: WorkloadCertificates;
  /** the podCertificate source's maxExpirationSeconds (the apiserver's default is 24 h) */
  podCertificate: { maxExpirationSeconds: number };
}

export const DEFAULT_CONFIG: InjectorConfig = {
  policy: 'enabled',
  neverInjectSelector: [],
  alwaysInjectSelector: [],
  revision: 'default',
  nativeSidecars: true,
  cni: false,
  images: { proxy: 'docker.io/envoyproxy/envoy:v1.36.2', init: 'ghcr.io/tandem-mesh/tandem:0.1.0' },
  xdsAddress: DEFAULT_XDS_ADDRESS,
  clusterId: 'Kubernetes',
  meshId: 'cluster.local',
  proxy: {
    uid: 1337,
    gid: 1337,
    logLevel: 'warning',
    componentLogLevel: '',
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } },
  },
  init: { resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } } },
  capture: {
    interceptionMode: 'REDIRECT',
    includeOutboundIPRanges: '*',
    excludeOutboundIPRanges: '',
    includeInboundPorts: '*',
    excludeInboundPorts: '',
    includeOutboundPorts: '',
    excludeOutboundPorts: '',
    kubevirtInterfaces: '',
  },
  rewriteAppHTTPProbers: true,
  enablePrometheusMerge: true,
  proxyConfig: DEFAULT_PROXY_CONFIG,
  podCertificate: { maxExpirationSeconds: 86_400 },
};

export const ENVOY_LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'];
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;

/** Kubernetes resource quantity syntax (e.g. 100m, 1.5, 128Mi, 1e3). */
export function isQuantity(s: string): boolean {
  return QUANTITY.test(s);
}

type Obj = Record<string, unknown>;

class Reader {
  constructor(private readonly source: string) {}

  fail(path: string, what: string): never {
    throw new UserError(`${this.source}: ${path}: ${what}`);
  }

  obj(v: unknown, path: string, allowed: readonly string[]): Obj {
    if (!isObject(v)) this.fail(path, 'must be a mapping');
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) this.fail(path ? `${path}.${k}` : k, `unknown field (allowed: ${allowed.join(', ')})`);
    }
    return v;
  }

  str(v: unknown, path: string, def: string, opts: { nonEmpty?: boolean; oneOf?: readonly string[] } = {}): string {
    if (v === undefined) return def;
    if (typeof v !== 'string') this.fail(path, 'must be a string');
    if (opts.nonEmpty && v === '') this.fail(path, 'must not be empty');
    if (opts.oneOf && !opts.oneOf.includes(v)) this.fail(path, `must be one of ${opts.oneOf.join(', ')} (got "${v}")`);
    return v;
  }

  bool(v: unknown, path: string, def: boolean): boolean {
    if (v === undefined) return def;
    if (typeof v !== 'boolean') this.fail(path, 'must be true or false');
    return v;
  }

  uid(v: unknown, path: string, def: number): number {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2147483647) this.fail(path, 'must be a non-negative integer');
    return v;
  }

  selectors(v: unknown, path: string): LabelSelector[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, 'must be a list of label selectors');
    return v.map((s, i) => {
      const problem = selectorProblem(s);
      if (problem) this.fail(`${path}[${i}]`, problem);
      return structuredClone(s) as LabelSelector;
    });
  }

  resources(v: unknown, path: string, def: Resources): Resources {
    if (v === undefined) return structuredClone(def);
    const r = this.obj(v, path, ['requests', 'limits']);
    const out: Resources = {};
    for (const part of ['requests', 'limits'] as const) {
      const list = r[part];
      if (list === undefined || list === null) continue;
      const keys = ['cpu', 'memory', 'ephemeral-storage'] as const;
      const l = this.obj(list, `${path}.${part}`, keys);
      const rl: ResourceList = {};
      for (const k of keys) {
        const q = l[k];
        if (q === undefined || q === null) continue;
        const s = typeof q === 'number' ? String(q) : q;
        if (typeof s !== 'string' || !isQuantity(s)) this.fail(`${path}.${part}.${k}`, `"${String(q)}" is not a Kubernetes quantity`);
        rl[k] = s;
      }
      out[part] = rl;
    }
    return out;
  }
}

/** Parses and validates an injector config document; `source` names it in errors. */
export function parseInjectorConfig(text: string, source: string): InjectorConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UserError(`${source}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return injectorConfigFrom(doc ?? {}, source);
}

/** Validates an already-parsed config object over the defaults. */
export function injectorConfigFrom(doc: unknown, source = 'injector config'): InjectorConfig {
  const r = new Reader(source);
  const d = DEFAULT_CONFIG;
  const top = r.obj(doc, '', [
    'policy', 'neverInjectSelector', 'alwaysInjectSelector', 'revision', 'nativeSidecars', 'cni', 'images',
    'xdsAddress', 'clusterId', 'meshId', 'proxy', 'init', 'capture', 'rewriteAppHTTPProbers', 'enablePrometheusMerge', 'proxyConfig',
    'workloadCertificates', 'podCertificate',
  ]);
  const podCertificate = r.obj(top.podCertificate ?? {}, 'podCertificate', ['maxExpirationSeconds']);
  const maxExpiration = podCertificate.maxExpirationSeconds ?? d.podCertificate.maxExpirationSeconds;
  if (typeof maxExpiration !== 'number' || !Number.isInteger(maxExpiration) || maxExpiration < MIN_POD_CERTIFICATE_SECONDS || maxExpiration > MAX_POD_CERTIFICATE_SECONDS) {
    r.fail('podCertificate.maxExpirationSeconds', `must be an integer from ${MIN_POD_CERTIFICATE_SECONDS} to ${MAX_POD_CERTIFICATE_SECONDS} (the apiserver's bounds), got ${JSON.stringify(maxExpiration)}`);
  }
  const workloadCertificates = top.workloadCertificates === undefined || top.workloadCertificates === null
    ? undefined
    : (r.str(top.workloadCertificates, 'workloadCertificates', '', { oneOf: WORKLOAD_CERTIFICATE_MODES }) as WorkloadCertificates);
  const images = r.obj(top.images ?? {}, 'images', ['proxy', 'init', 'pullPolicy']);
  const proxy = r.obj(top.proxy ?? {}, 'proxy', ['uid', 'gid', 'logLevel', 'componentLogLevel', 'resources']);
  const init = r.obj(top.init ?? {}, 'init', ['resources']);
  const capture = r.obj(top.capture ?? {}, 'capture', Object.keys(d.capture));
  const pullPolicy = images.pullPolicy === undefined ? undefined : (r.str(images.pullPolicy, 'images.pullPolicy', '', { oneOf: ['Always', 'IfNotPresent', 'Never'] }) as PullPolicy);
  const revision = r.str(top.revision, 'revision', d.revision, { nonEmpty: true });
  if (!isDns1123Label(revision)) r.fail('revision', `"${revision}" is not a valid label value`);
  const proxyResources = r.resources(proxy.resources, 'proxy.resources', d.proxy.resources);
  const cfg: InjectorConfig = {
    policy: r.str(top.policy, 'policy', d.policy, { oneOf: ['enabled', 'disabled'] }) as InjectorConfig['policy'],
    neverInjectSelector: r.selectors(top.neverInjectSelector, 'neverInjectSelector'),
    alwaysInjectSelector: r.selectors(top.alwaysInjectSelector, 'alwaysInjectSelector'),
    revision,
    nativeSidecars: r.bool(top.nativeSidecars, 'nativeSidecars', d.nativeSidecars),
    cni: r.bool(top.cni, 'cni', d.cni),
    images: {
      proxy: r.str(images.proxy, 'images.proxy', d.images.proxy, { nonEmpty: true }),
      init: r.str(images.init, 'images.init', d.images.init, { nonEmpty: true }),
      ...(pullPolicy ? { pullPolicy } : {}),
    },
    xdsAddress: r.str(top.xdsAddress, 'xdsAddress', d.xdsAddress, { nonEmpty: true }),
    clusterId: r.str(top.clusterId, 'clusterId', d.clusterId, { nonEmpty: true }),
    meshId: r.str(top.meshId, 'meshId', d.meshId, { nonEmpty: true }),
    proxy: {
      uid: r.uid(proxy.uid, 'proxy.uid', d.proxy.uid),
      gid: r.uid(proxy.gid, 'proxy.gid', d.proxy.gid),
      logLevel: r.str(proxy.logLevel, 'proxy.logLevel', d.proxy.logLevel, { oneOf: ENVOY_LOG_LEVELS }),
      componentLogLevel: r.str(proxy.componentLogLevel, 'proxy.componentLogLevel', d.proxy.componentLogLevel),
      resources: proxyResources,
    },
    init: { resources: r.resources(init.resources, 'init.resources', proxyResources) },
    capture: {
      interceptionMode: r.str(capture.interceptionMode, 'capture.interceptionMode', d.capture.interceptionMode, { oneOf: ['REDIRECT', 'TPROXY', 'NONE'] }) as InterceptionMode,
      includeOutboundIPRanges: r.str(capture.includeOutboundIPRanges, 'capture.includeOutboundIPRanges', d.capture.includeOutboundIPRanges),
      excludeOutboundIPRanges: r.str(capture.excludeOutboundIPRanges, 'capture.excludeOutboundIPRanges', d.capture.excludeOutboundIPRanges),
      includeInboundPorts: r.str(capture.includeInboundPorts, 'capture.includeInboundPorts', d.capture.includeInboundPorts),
      excludeInboundPorts: r.str(capture.excludeInboundPorts, 'capture.excludeInboundPorts', d.capture.excludeInboundPorts),
      includeOutboundPorts: r.str(capture.includeOutboundPorts, 'capture.includeOutboundPorts', d.capture.includeOutboundPorts),
      excludeOutboundPorts: r.str(capture.excludeOutboundPorts, 'capture.excludeOutboundPorts', d.capture.excludeOutboundPorts),
      kubevirtInterfaces: r.str(capture.kubevirtInterfaces, 'capture.kubevirtInterfaces', d.capture.kubevirtInterfaces),
    },
    rewriteAppHTTPProbers: r.bool(top.rewriteAppHTTPProbers, 'rewriteAppHTTPProbers', d.rewriteAppHTTPProbers),
    enablePrometheusMerge: r.bool(top.enablePrometheusMerge, 'enablePrometheusMerge', d.enablePrometheusMerge),
    proxyConfig: mergeProxyConfig(d.proxyConfig, top.proxyConfig, `${source}: proxyConfig`),
    ...(workloadCertificates ? { workloadCertificates } : {}),
    podCertificate: { maxExpirationSeconds: maxExpiration as number },
  };
  return cfg;
}
