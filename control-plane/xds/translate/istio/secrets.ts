/**
 * The contract between the xDS translation and whatever delivers a workload's certificates
 * (bootstrap/ for sidecars, the gRPC bootstrap for proxyless clients). Sidecars name two SDS secrets
 * without an sds_config: the bootstrap defines them as static secrets read from the files below,
 * with `watched_directory` so that a rotation on disk is picked up without anything else. Proxyless
 * gRPC reads the same files through its bootstrap's `certificate_providers` (plugin `file_watcher`),
 * named by one instance. bootstrap/ keeps its own copy of these names until the two are folded together.
 */

/** the SDS secret holding the workload's key and certificate chain (Istio's name) */
export const WORKLOAD_SECRET = 'default';
/** the SDS secret holding the trust bundle (Istio's name) */
export const ROOT_SECRET = 'ROOTCA';

/** where the workload's credentials are mounted in the sidecar (Istio's path) */
export const CREDENTIALS_DIR = '/var/run/secrets/workload-spiffe-credentials';
export const CERT_CHAIN_FILE = `${CREDENTIALS_DIR}/cert-chain.pem`;
export const KEY_FILE = `${CREDENTIALS_DIR}/key.pem`;
export const ROOT_CERT_FILE = `${CREDENTIALS_DIR}/root-cert.pem`;

/** the gRPC bootstrap's certificate provider instance proxyless clients and servers use (Istio's name) */
export const GRPC_CERT_PROVIDER_INSTANCE = 'default';
/** certificate names within that instance, as Istio's proxyless generator sends them */
export const GRPC_IDENTITY_CERT_NAME = 'default';
export const GRPC_ROOT_CERT_NAME = 'ROOTCA';
