import { parseHostPort } from './sidecar.js';
import { GRPC_CERTIFICATE_PROVIDER, credentialFiles } from './workload-credentials.js';

/**
 * The xDS bootstrap of a proxyless gRPC application (pure): what gRPC reads from
 * `GRPC_XDS_BOOTSTRAP_CONFIG` (grpc-go, grpc-java and grpc-js-xds all read that variable), so a
 * pod needs no agent and no init container to write a bootstrap file. The injector's `grpc`
 * template renders it per pod with `$(POD_NAME)`-style references the kubelet expands from the
 * container's downward-API environment.
 *
 * The node is what control-plane/xds/proxy.ts reads: metadata `GENERATOR: grpc` (as Istio's gRPC
 * bootstrap sets) marks the client proxyless; NAMESPACE, LABELS and INSTANCE_IPS scope its config.
 * Certificates come from the same three files the sidecar's static secrets read, through gRPC's
 * `file_watcher` certificate provider named `default`, which the xDS translation references.
 */
export interface GrpcBootstrapParams {
  podName: string;
  podNamespace: string;
  podIp: string;
  serviceAccount: string;
  /** host:port of tandem's xDS server (plaintext, as the sidecar's) */
  xdsAddress: string;
  clusterId?: string;
  meshId?: string;
  labels?: Record<string, string>;
  clusterDomain?: string;
  /** where the workload certificate is mounted (default workload-credentials.ts's directory) */
  credentialsDir?: string;
  /** how often gRPC re-reads the files (proto3 JSON duration, default 60s) */
  refreshInterval?: string;
}

/** Istio's name for a proxyless gRPC server's inbound listener (`%s` is `<ip>:<port>`). */
export const GRPC_SERVER_LISTENER_TEMPLATE = 'xds.istio.io/grpc/lds/inbound/%s';
/**
 * The kubelet refreshes a Pod Certificate at its half-life (beginRefreshAt), hours before expiry;
 * a minute's lag in noticing costs nothing, and each check is three small file reads.
 */
export const DEFAULT_REFRESH_INTERVAL = '60s';

export function renderGrpcBootstrap(p: GrpcBootstrapParams): Record<string, unknown> {
  const domain = p.clusterDomain ?? 'cluster.local';
  // Validated like the sidecar's (a bad address is the user's error, named).
  parseHostPort(p.xdsAddress);
  const files = credentialFiles(p.credentialsDir);
  const labels = p.labels ?? {};
  const workload = labels['app'] ?? labels['app.kubernetes.io/name'] ?? p.serviceAccount;
  return {
    xds_servers: [{ server_uri: p.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: `sidecar~${p.podIp}~${p.podName}.${p.podNamespace}~${p.podNamespace}.svc.${domain}`,
      cluster: `${workload}.${p.podNamespace}`,
      locality: {},
      metadata: {
        GENERATOR: 'grpc',
        NAME: p.podName,
        NAMESPACE: p.podNamespace,
        INSTANCE_IPS: p.podIp,
        SERVICE_ACCOUNT: p.serviceAccount,
        LABELS: { ...labels },
        MESH_ID: p.meshId ?? domain,
        CLUSTER_ID: p.clusterId ?? 'Kubernetes',
      },
    },
    certificate_providers: {
      [GRPC_CERTIFICATE_PROVIDER]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: files.certificateChain,
          private_key_file: files.privateKey,
          ca_certificate_file: files.rootCert,
          refresh_interval: p.refreshInterval ?? DEFAULT_REFRESH_INTERVAL,
        },
      },
    },
    server_listener_resource_name_template: GRPC_SERVER_LISTENER_TEMPLATE,
  };
}
