/**
 * Envoy v3 bootstrap for one sidecar. STUB signature owned by the control-plane
 * work; the body will be replaced (issue 6). Values may contain Kubernetes
 * `$(VAR)` references, which the kubelet expands in container args.
 */
export interface SidecarBootstrapParams {
  podName: string;
  podNamespace: string;
  podIp: string;
  serviceAccount: string;
  /** host:port of tandem's xDS server */
  xdsAddress: string;
  clusterId?: string;
  meshId?: string;
  labels?: Record<string, string>;
  /** app container ports, for node metadata */
  appPorts?: number[];
  /** original app probes keyed by `/app-health/<container>/<livez|readyz|startupz>` */
  appProbes?: Record<string, unknown>;
  concurrency?: number;
  logLevel?: string;
}

export function renderBootstrap(p: SidecarBootstrapParams): Record<string, unknown> {
  return {
    node: {
      id: `sidecar~${p.podIp}~${p.podName}.${p.podNamespace}~${p.podNamespace}.svc.cluster.local`,
      cluster: p.podNamespace,
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 15000 } } },
  };
}
