import type { Server, ServerCredentials } from '@grpc/grpc-js';
import type { KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import type { Authority } from './authority.js';
import { loadJwksAuthenticator, tokenReviewAuthenticator, type Authenticator } from './authn.js';
import { registerCertificateService } from './ca-service.js';
import { DEFAULT_CA_DIR, loadDirCa } from './dir-source.js';
import { startPodCertificateSigner, type PodCertificateSigner } from './pod-certificates/signer.js';
import { startRootDistribution, type RootDistribution } from './root-distribution/controller.js';
import { loadSecretCa } from './secret-source.js';
import { startServerCertificate, type ServerCertificate } from './server-credentials.js';
import { DEFAULT_TRUST_DOMAIN } from './spiffe.js';

/**
 * The mesh CA as `tandem serve` / `tandem control-plane` start it (the composition root wires it):
 * the authority from the cluster (Secret cacerts, else tandem-ca) or a local directory; the 15012
 * TLS credentials; the CA API to register on the caller's 15012 server; in a cluster, the Pod
 * Certificate signer and the root ConfigMap controller. A broken CA configuration rejects here.
 */
export interface MeshCaOptions {
  /** in a cluster: CA from Secrets, controllers started, tokens checked by TokenReview (unless jwks is given) */
  kubeConfig?: KubeConfig;
  /** without a cluster: the plug-in directory (default .tandem/ca), created on first start */
  dir?: string;
  trustDomain?: string;
  /** `--ca-jwks FILE --ca-jwt-issuer ISS` */
  jwks?: { file: string; issuer: string };
  /** the Pod Certificate signer and root distribution (default: on with a kubeConfig) */
  controllers?: boolean;
  /** lifetime of the 15012 serving certificate (default 30 days), renewed in-process at half-life */
  serverCertTtlMs?: number;
  logger?: Logger;
}

export interface MeshCa {
  authority: Authority;
  source: 'cacerts' | 'tandem-ca' | 'dir';
  /**
   * TLS for 15012: a server certificate from the mesh CA for tandem-xds.tandem-system.svc(.cluster.local),
   * localhost, 127.0.0.1, renewed at half-life while the server runs (new handshakes get the new one).
   */
  credentials: ServerCredentials;
  /** the serving certificate new handshakes get (changes at each renewal) */
  readonly serverCertificate: ServerCertificate;
  /** adds istio.v1.auth.IstioCertificateService to the 15012 server; throws without a way to verify tokens */
  registerCertificateService(server: Server): void;
  /** callers' tokens can be verified (TokenReview in a cluster, or a JWKS): only then is the CA API served */
  verifiesCallers: boolean;
  /**
   * What startControlPlane's `secure` option takes: the 15012 server on `port` with these credentials,
   * and the CA API registered on it only when callers can be verified (never an unauthenticated signer).
   */
  secureServer(port: number): { port: number; credentials: ServerCredentials; register?: (server: Server) => void };
  /** resolves when the controllers (if any) have listed their objects */
  synced: Promise<void>;
  stop(): Promise<void>;
}

export async function startMeshCa(opts: MeshCaOptions): Promise<MeshCa> {
  const logger = opts.logger ?? silentLogger;
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  let authority: Authority;
  let source: MeshCa['source'];
  if (opts.kubeConfig) {
    const r = await loadSecretCa({ kubeConfig: opts.kubeConfig, trustDomain });
    authority = r.authority;
    source = r.source;
    if (r.created) logger.info({ secret: 'tandem-system/tandem-ca' }, 'created the mesh root CA');
  } else {
    const dir = opts.dir ?? DEFAULT_CA_DIR;
    const r = await loadDirCa(dir, { trustDomain });
    authority = r.authority;
    source = 'dir';
    if (r.created) logger.info({ dir }, 'created the mesh root CA');
  }
  logger.info({ source, subject: authority.caCert.subject.replace(/\n/g, ', '), notAfter: new Date(authority.caCert.validTo).toISOString(), intermediate: authority.intermediate }, 'mesh CA loaded');

  let authenticate: Authenticator | undefined;
  if (opts.jwks) authenticate = await loadJwksAuthenticator(opts.jwks.file, opts.jwks.issuer);
  else if (opts.kubeConfig) authenticate = tokenReviewAuthenticator(opts.kubeConfig);

  if (!authenticate) logger.warn({}, 'CA API off: no cluster (TokenReview) and no --ca-jwks; the secure port serves ADS only');
  const serving = await startServerCertificate(() => authority, {
    ...(opts.serverCertTtlMs !== undefined ? { ttlMs: opts.serverCertTtlMs } : {}),
    onRenew: (c) => logger.info({ notAfter: c.notAfter.toISOString() }, 'renewed the secure port\'s serving certificate'),
    onError: (err) => logger.error({ err: (err as Error).message }, 'renewing the secure port\'s serving certificate failed; the current one stays, retrying'),
  });
  const credentials = serving.credentials;
  const register = (server: Server): void => {
    if (!authenticate) throw new UserError('the CA API needs a way to verify tokens: run in a cluster (TokenReview) or pass --ca-jwks FILE --ca-jwt-issuer ISS');
    registerCertificateService(server, { authority: () => authority, authenticate, trustDomain, logger });
  };
  let signer: PodCertificateSigner | undefined;
  let roots: RootDistribution | undefined;
  if (opts.kubeConfig && opts.controllers !== false) {
    signer = startPodCertificateSigner({ kubeConfig: opts.kubeConfig, authority: () => authority, trustDomain, logger });
    roots = startRootDistribution({ kubeConfig: opts.kubeConfig, rootsPem: authority.rootsPem, logger });
  }
  return {
    authority,
    source,
    credentials,
    get serverCertificate() {
      return serving.current();
    },
    registerCertificateService: register,
    verifiesCallers: authenticate !== undefined,
    secureServer: (port) => ({ port, credentials, ...(authenticate ? { register } : {}) }),
    synced: Promise.all([signer?.synced, roots?.synced]).then(() => undefined),
    async stop() {
      serving.stop();
      await Promise.all([signer?.stop(), roots?.stop()]);
    },
  };
}
