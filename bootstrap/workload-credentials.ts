/**
 * Where a pod's workload certificate lives when the injector delivers it (Kubernetes Pod
 * Certificates, no agent), and the names the proxies know it by. One module, so that the injected
 * volume, the sidecar's static secrets, the gRPC bootstrap's certificate provider and the xDS
 * translation (which references the secrets by name, with no sds_config) cannot drift apart.
 */

/** Istio's path for file-mounted workload credentials (istio-agent reads the same directory). */
export const WORKLOAD_CREDENTIALS_DIR = '/var/run/secrets/workload-spiffe-credentials';
/** The projected volume holding key, chain (podCertificate source) and root (istio-ca-root-cert). */
export const WORKLOAD_CERTS_VOLUME = 'workload-certs';
/** The file names of design.md's identity contract. */
export const CERT_CHAIN_FILE = 'cert-chain.pem';
export const KEY_FILE = 'key.pem';
export const ROOT_CERT_FILE = 'root-cert.pem';
/** Istio's SDS resource names: the workload's own certificate and the mesh roots. */
export const IDENTITY_SECRET = 'default';
export const ROOT_CA_SECRET = 'ROOTCA';
/** The gRPC bootstrap's certificate provider instance the xDS translation names for proxyless clients. */
export const GRPC_CERTIFICATE_PROVIDER = 'default';

export interface WorkloadCredentialFiles {
  dir: string;
  certificateChain: string;
  privateKey: string;
  rootCert: string;
}

export function credentialFiles(dir: string = WORKLOAD_CREDENTIALS_DIR): WorkloadCredentialFiles {
  const at = (f: string): string => `${dir.replace(/\/+$/, '')}/${f}`;
  return { dir, certificateChain: at(CERT_CHAIN_FILE), privateKey: at(KEY_FILE), rootCert: at(ROOT_CERT_FILE) };
}

/**
 * Envoy static secrets (bootstrap `static_resources.secrets`) reading the files. The kubelet
 * updates a projected volume by swapping its `..data` symlink; `watched_directory` makes Envoy
 * reload on that move (a watch on the files themselves would follow the old, unlinked targets).
 */
export function staticSecrets(dir: string = WORKLOAD_CREDENTIALS_DIR): Record<string, unknown>[] {
  const f = credentialFiles(dir);
  const watched = { path: f.dir };
  return [
    {
      name: IDENTITY_SECRET,
      tls_certificate: { certificate_chain: { filename: f.certificateChain }, private_key: { filename: f.privateKey }, watched_directory: watched },
    },
    {
      name: ROOT_CA_SECRET,
      validation_context: { trusted_ca: { filename: f.rootCert }, watched_directory: watched },
    },
  ];
}

/** The proto type of each entry of `staticSecrets` (for strict checks). */
export const STATIC_SECRET_TYPE = 'envoy.extensions.transport_sockets.tls.v3.Secret';
