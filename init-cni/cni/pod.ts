import { UserError } from '../../common/errors.js';
import { isObject } from '../../common/objects.js';
import { type CaptureConfig, detectIPv6, loadConfig } from '../config.js';

/**
 * What the CNI plugin knows about a pod, whether it captures it, and the capture configuration it
 * builds from the pod's annotations: `tandem iptables` flags, so that the plugin and the init
 * container go through one flag parser and one rule generator. Pure. The decisions and defaults
 * are those of Istio's chained plugin (cni/pkg/plugin), except where a comment says otherwise.
 */

/** The annotations the plugin reads; an injector in CNI mode sets the traffic ones on the pod. */
export const ANNOTATION = {
  INJECT: 'sidecar.istio.io/inject',
  STATUS: 'sidecar.istio.io/status',
  INTERCEPTION_MODE: 'sidecar.istio.io/interceptionMode',
  INCLUDE_OUTBOUND_IP_RANGES: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  EXCLUDE_OUTBOUND_IP_RANGES: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  INCLUDE_INBOUND_PORTS: 'traffic.sidecar.istio.io/includeInboundPorts',
  EXCLUDE_INBOUND_PORTS: 'traffic.sidecar.istio.io/excludeInboundPorts',
  INCLUDE_OUTBOUND_PORTS: 'traffic.sidecar.istio.io/includeOutboundPorts',
  EXCLUDE_OUTBOUND_PORTS: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  EXCLUDE_INTERFACES: 'traffic.sidecar.istio.io/excludeInterfaces',
  /** Deprecated by Istio in favour of REROUTE_VIRTUAL_INTERFACES, still read when that is absent. */
  KUBEVIRT_INTERFACES: 'traffic.sidecar.istio.io/kubevirtInterfaces',
  REROUTE_VIRTUAL_INTERFACES: 'istio.io/reroute-virtual-interfaces',
} as const;

export const PLUGIN_ANNOTATIONS: readonly string[] = Object.values(ANNOTATION);
/** The pod label that overrides the inject annotation. */
export const INJECT_LABEL = 'sidecar.istio.io/inject';

export const PROXY_CONTAINER = 'istio-proxy';
export const INIT_CONTAINER = 'istio-init';
/** The node agent's DaemonSet pods (never captured: they install the plugin). */
export const AGENT_POD_PREFIX = 'tandem-cni-node';

export interface PodInfo {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Init and app container names; undefined when only the annotations are known. */
  readonly containers?: ReadonlySet<string>;
  /** Facts from the istio-proxy container (only when the pod object was read). */
  readonly proxyEnv: Readonly<Record<string, string>>;
  readonly proxyUid?: string;
  readonly proxyGid?: string;
  /** `proxy <type>` in the proxy's args: `sidecar`, `router`… */
  readonly proxyType?: string;
}

function stringMap(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Istio's PodInfo from a core/v1 Pod read from the apiserver. */
export function podInfoFromObject(pod: unknown): PodInfo {
  if (!isObject(pod) || !isObject(pod.metadata)) throw new UserError('the apiserver answered with something that is not a Pod');
  const meta = pod.metadata;
  const spec = isObject(pod.spec) ? pod.spec : {};
  const containers = new Set<string>();
  let proxyEnv: Record<string, string> = {};
  let proxyUid: string | undefined;
  let proxyGid: string | undefined;
  let proxyType: string | undefined;
  for (const c of [...list(spec.initContainers), ...list(spec.containers)]) {
    if (!isObject(c) || typeof c.name !== 'string') continue;
    containers.add(c.name);
    if (c.name !== PROXY_CONTAINER) continue;
    proxyEnv = {};
    for (const e of list(c.env)) if (isObject(e) && typeof e.name === 'string') proxyEnv[e.name] = typeof e.value === 'string' ? e.value : '';
    const args = list(c.args);
    if (args.length >= 2 && args[0] === 'proxy' && typeof args[1] === 'string') proxyType = args[1];
    const sc = isObject(c.securityContext) ? c.securityContext : {};
    // Istio: a zero or absent runAsUser/runAsGroup keeps the default 1337.
    if (typeof sc.runAsUser === 'number' && sc.runAsUser !== 0) proxyUid = String(sc.runAsUser);
    if (typeof sc.runAsGroup === 'number' && sc.runAsGroup !== 0) proxyGid = String(sc.runAsGroup);
  }
  return {
    name: typeof meta.name === 'string' ? meta.name : '',
    namespace: typeof meta.namespace === 'string' ? meta.namespace : '',
    labels: stringMap(meta.labels),
    annotations: stringMap(meta.annotations),
    containers,
    proxyEnv,
    ...(proxyUid ? { proxyUid } : {}),
    ...(proxyGid ? { proxyGid } : {}),
    ...(proxyType ? { proxyType } : {}),
  };
}

/**
 * A PodInfo from the annotations the runtime passed (no apiserver call). The container names come
 * from the status annotation when it is the injector's JSON (`{"initContainers":[…],"containers":[…]}`).
 */
export function podInfoFromAnnotations(name: string, namespace: string, annotations: Readonly<Record<string, string>>): PodInfo {
  let containers: Set<string> | undefined;
  const status = annotations[ANNOTATION.STATUS];
  if (status) {
    try {
      const s: unknown = JSON.parse(status);
      if (isObject(s)) {
        containers = new Set([...list(s.initContainers), ...list(s.containers)].filter((c): c is string => typeof c === 'string'));
      }
    } catch {
      // Not JSON (Istio's own tests use "true"): the container list stays unknown.
    }
  }
  return { name, namespace, labels: {}, annotations, ...(containers ? { containers } : {}), proxyEnv: {} };
}

export interface PluginPolicy {
  readonly excludeNamespaces: readonly string[];
  readonly podNamespace?: string;
}

export type Decision = { readonly capture: true } | { readonly capture: false; readonly reason: string };

/** Decisions that need only the pod's name and namespace (before anything is read). */
export function decideByName(name: string, namespace: string, policy: PluginPolicy): Decision | undefined {
  if (!name || !namespace) return { capture: false, reason: 'not a Kubernetes pod (no K8S_POD_NAME / K8S_POD_NAMESPACE in CNI_ARGS)' };
  if (policy.excludeNamespaces.includes(namespace)) return { capture: false, reason: `namespace ${namespace} is excluded` };
  if (policy.podNamespace === namespace && name.startsWith(AGENT_POD_PREFIX)) return { capture: false, reason: 'the node agent itself' };
  return undefined;
}

function envTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v);
}

/** Whether the plugin writes capture rules for this pod, and why not. */
export function decideCapture(pod: PodInfo, policy: PluginPolicy): Decision {
  const byName = decideByName(pod.name, pod.namespace, policy);
  if (byName) return byName;
  const c = pod.containers;
  if (c?.has(INIT_CONTAINER)) return { capture: false, reason: `the pod has an ${INIT_CONTAINER} container that captures its traffic` };
  if (envTrue(pod.proxyEnv.DISABLE_ENVOY)) return { capture: false, reason: `DISABLE_ENVOY is set on ${PROXY_CONTAINER}` };
  if (c && !c.has(PROXY_CONTAINER)) return { capture: false, reason: `the pod has no ${PROXY_CONTAINER} container` };
  if (pod.proxyType !== undefined && pod.proxyType !== 'sidecar') return { capture: false, reason: `the proxy type is ${pod.proxyType}, not sidecar` };
  const inject = pod.labels[INJECT_LABEL] ?? pod.annotations[ANNOTATION.INJECT];
  if (inject !== undefined && ['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(inject)) return { capture: false, reason: `${ANNOTATION.INJECT} is ${inject}` };
  if (pod.annotations[ANNOTATION.STATUS] === undefined) return { capture: false, reason: `no ${ANNOTATION.STATUS} annotation: not injected` };
  // Istio's plugin refuses NONE as an invalid mode; NONE means "do not capture", so tandem passes through.
  if (pod.annotations[ANNOTATION.INTERCEPTION_MODE] === 'NONE') return { capture: false, reason: `${ANNOTATION.INTERCEPTION_MODE} is NONE` };
  return { capture: true };
}

/** Istio's plugin always keeps the proxy's status, readiness and stats ports out of inbound capture. */
const ALWAYS_EXCLUDED_INBOUND = ['15020', '15021', '15090'];

function ports(value: string): string[] {
  return value.split(',').map((p) => p.trim());
}

function dedup(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/** Which annotation each flag comes from, to name it in errors. */
const FLAG_SOURCE: Readonly<Record<string, string>> = {
  '-m': ANNOTATION.INTERCEPTION_MODE,
  '-i': ANNOTATION.INCLUDE_OUTBOUND_IP_RANGES,
  '-x': ANNOTATION.EXCLUDE_OUTBOUND_IP_RANGES,
  '-b': ANNOTATION.INCLUDE_INBOUND_PORTS,
  '-d': ANNOTATION.EXCLUDE_INBOUND_PORTS,
  '-q': ANNOTATION.INCLUDE_OUTBOUND_PORTS,
  '-o': ANNOTATION.EXCLUDE_OUTBOUND_PORTS,
  '-c': ANNOTATION.EXCLUDE_INTERFACES,
  '-k': ANNOTATION.REROUTE_VIRTUAL_INTERFACES,
};

/**
 * The `tandem iptables` flags for a pod, from its annotations and proxy container, with Istio's
 * plugin defaults (outbound: all ranges, 15020 excluded; inbound: all ports but 15020/15021/15090).
 * `addresses` (the pod's, from the previous plugin's result) decide IPv6 as `tandem iptables` would
 * inside the pod; without them the child detects it there.
 */
export function captureArgs(pod: PodInfo, addresses?: readonly string[]): string[] {
  const a = pod.annotations;
  const dualStack = envTrue(pod.proxyEnv.ISTIO_DUAL_STACK);
  const dns = envTrue(pod.proxyEnv.ISTIO_META_DNS_CAPTURE);
  const excludeInbound = (a[ANNOTATION.EXCLUDE_INBOUND_PORTS] ?? '15020').trim();
  const reroute = a[ANNOTATION.REROUTE_VIRTUAL_INTERFACES] ?? a[ANNOTATION.KUBEVIRT_INTERFACES] ?? '';
  const args = [
    '-p', '15001',
    '-z', '15006',
    '-u', pod.proxyUid ?? '1337',
    '-g', pod.proxyGid ?? '1337',
    '-m', a[ANNOTATION.INTERCEPTION_MODE] ?? 'REDIRECT',
    '-i', a[ANNOTATION.INCLUDE_OUTBOUND_IP_RANGES] ?? '*',
    '-x', a[ANNOTATION.EXCLUDE_OUTBOUND_IP_RANGES] ?? '',
    '-b', a[ANNOTATION.INCLUDE_INBOUND_PORTS] ?? '*',
    '-d', dedup([...ports(excludeInbound).filter((p) => p !== ''), ...ALWAYS_EXCLUDED_INBOUND]).join(','),
    '-q', ports(a[ANNOTATION.INCLUDE_OUTBOUND_PORTS] ?? '').join(','),
    '-o', ports(a[ANNOTATION.EXCLUDE_OUTBOUND_PORTS] ?? '15020').join(','),
    '-c', a[ANNOTATION.EXCLUDE_INTERFACES] ?? '',
    '-k', reroute,
  ];
  // Istio's plugin captures DNS to every server when the proxy captures DNS.
  if (dns) args.push('--redirect-dns', '--capture-all-dns');
  if (dualStack) args.push('--dual-stack');
  if (envTrue(pod.proxyEnv.INVALID_DROP)) args.push('--drop-invalid');
  if (addresses && addresses.length > 0) args.push(`--ipv6=${detectIPv6(addresses, dualStack)}`);
  return args;
}

/** The capture configuration for a pod, validated; an invalid annotation is named in the error. */
export function captureConfig(pod: PodInfo, addresses?: readonly string[]): CaptureConfig {
  const argv = captureArgs(pod, addresses);
  try {
    return loadConfig(argv, {}, {}).config;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    const flag = /^(-[a-z]) /.exec(err.message)?.[1];
    const source = flag ? FLAG_SOURCE[flag] : undefined;
    const where = `pod ${pod.namespace}/${pod.name}`;
    if (flag && source) throw new UserError(`${where}: annotation ${source}${err.message.slice(flag.length)}`, { cause: err });
    throw new UserError(`${where}: ${err.message}`, { cause: err });
  }
}
