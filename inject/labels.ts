/** Label and annotation keys tandem shares with Istio (facts, not code). */
export const INJECT_KEY = 'sidecar.istio.io/inject';
export const STATUS_ANNOTATION = 'sidecar.istio.io/status';
export const NATIVE_SIDECAR_ANNOTATION = 'sidecar.istio.io/nativeSidecar';
export const INTERCEPTION_MODE_ANNOTATION = 'sidecar.istio.io/interceptionMode';
export const REV_LABEL = 'istio.io/rev';
export const NAMESPACE_INJECTION_LABEL = 'istio-injection';
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';
export const CANONICAL_NAME_LABEL = 'service.istio.io/canonical-name';
export const CANONICAL_REVISION_LABEL = 'service.istio.io/canonical-revision';
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';
export const DEFAULT_LOGS_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-logs-container';

export const TRAFFIC = {
  includeOutboundIPRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  excludeOutboundIPRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  includeOutboundPorts: 'traffic.sidecar.istio.io/includeOutboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  kubevirtInterfaces: 'traffic.sidecar.istio.io/kubevirtInterfaces',
} as const;

export const REROUTE_VIRTUAL_INTERFACES = 'istio.io/reroute-virtual-interfaces';

export const RESOURCE_ANNOTATIONS = {
  cpu: 'sidecar.istio.io/proxyCPU',
  memory: 'sidecar.istio.io/proxyMemory',
  cpuLimit: 'sidecar.istio.io/proxyCPULimit',
  memoryLimit: 'sidecar.istio.io/proxyMemoryLimit',
} as const;

/** Kubernetes' own namespaces (and kind's local-path-storage): never injected, as in Istio's injector. */
export const KUBERNETES_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'];

/**
 * The one list of namespaces never injected, whatever their labels say: Kubernetes' own and the
 * control plane's (configured with `--namespace`), so tandem can always start, even before its
 * webhook can answer. The webhook's policy refuses them and the shipped webhook configuration's
 * namespaceSelector keeps the apiserver from sending them.
 */
export function neverInjectedNamespaces(controlPlaneNamespace: string): readonly string[] {
  return KUBERNETES_NAMESPACES.includes(controlPlaneNamespace) ? KUBERNETES_NAMESPACES : [...KUBERNETES_NAMESPACES, controlPlaneNamespace];
}

/**
 * Istio's boolean spellings for the inject label/annotation. Returns undefined
 * for anything else so callers can say what they did with an unknown value.
 */
export function parseIstioBool(value: string): boolean | undefined {
  switch (value.trim().toLowerCase()) {
    case 'true': case 'y': case 'yes': case 'on':
      return true;
    case 'false': case 'n': case 'no': case 'off':
      return false;
    default:
      return undefined;
  }
}
