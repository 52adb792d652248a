/**
 * The names the xDS translation references for a workload's certificates, from the one contract
 * module bootstrap/workload-credentials.ts (which also places the files and defines the secrets).
 * Sidecars name two SDS secrets without an sds_config: the bootstrap defines them as static secrets
 * read from the mounted files, with `watched_directory` so a rotation on disk needs nothing else.
 * Proxyless gRPC reads the same files through its bootstrap's `certificate_providers` (plugin
 * `file_watcher`), one instance, with certificate names as Istio's proxyless generator sends them.
 */
import { GRPC_CERTIFICATE_PROVIDER, IDENTITY_SECRET, ROOT_CA_SECRET } from '../../../../bootstrap/workload-credentials.js';

/** the SDS secret holding the workload's key and certificate chain (Istio's name) */
export const WORKLOAD_SECRET = IDENTITY_SECRET;
/** the SDS secret holding the trust bundle (Istio's name) */
export const ROOT_SECRET = ROOT_CA_SECRET;

/** the gRPC bootstrap's certificate provider instance proxyless clients and servers use */
export const GRPC_CERT_PROVIDER_INSTANCE = GRPC_CERTIFICATE_PROVIDER;
/** certificate names within that instance (Istio's proxyless generator uses the SDS names) */
export const GRPC_IDENTITY_CERT_NAME = IDENTITY_SECRET;
export const GRPC_ROOT_CERT_NAME = ROOT_CA_SECRET;
