import { UserError } from '../../common/errors.js';
import { isObject } from '../../common/objects.js';

/**
 * What the CNI plugin knows about a pod and whether it captures it, pure. The decisions are those of
 * Istio's chained plugin (cni/pkg/plugin), except where a comment says otherwise. The capture
 * configuration built from the annotations is in capture.ts (kept apart: a pass-through, the
 * commonest call, does not load the flag parser).
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

export function envTrue(v: string | undefined): boolean {
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
