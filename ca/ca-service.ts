import { status as Status, type Metadata, type Server, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../common/logger.js';
import type { Authority } from './authority.js';
import { AuthnError, type Authenticator } from './authn.js';
import { CsrError, verifyCsr } from './csr.js';
import { csrNamesProblem, DEFAULT_MAX_WORKLOAD_TTL_MS, DEFAULT_WORKLOAD_TTL_MS, keyTypeProblem, lifetimeFor } from './policy.js';
import { keyLabel } from './public-key.js';
import { certificateServiceDefinition, type IstioCertificateRequest, type IstioCertificateResponse } from './proto/service.js';
import { issueWorkloadCertificate } from './sign.js';
import { DEFAULT_TRUST_DOMAIN, identityProblem, spiffeId, type WorkloadIdentity } from './spiffe.js';

export interface CertificateServiceDeps {
  /** the current CA (a function, so a reloaded CA takes effect for the next request) */
  authority: () => Authority;
  authenticate: Authenticator;
  trustDomain?: string;
  /** lifetime when the request asks none (24 h) */
  defaultTtlMs?: number;
  /** cap on any requested lifetime (Istio's MAX_WORKLOAD_CERT_TTL, 90 days) */
  maxTtlMs?: number;
  logger?: Logger;
  now?: () => Date;
}

/** A refusal with the gRPC status it maps to; nothing was issued. */
export class CaRefusal extends Error {
  override readonly name = 'CaRefusal';
  constructor(readonly code: Status, message: string) {
    super(message);
  }
}

function bearerToken(metadata: Metadata): string {
  const values = metadata.get('authorization');
  if (values.length !== 1) throw new CaRefusal(Status.UNAUTHENTICATED, values.length === 0 ? 'no authorization metadata (expected "Bearer <service-account token>")' : 'more than one authorization value');
  const m = /^Bearer\s+(\S+)$/i.exec(String(values[0]));
  if (!m) throw new CaRefusal(Status.UNAUTHENTICATED, 'authorization metadata is not "Bearer <token>"');
  return m[1]!;
}

/**
 * CreateCertificate, transport aside: authenticate the token, take the identity from it, verify
 * the CSR (signature, key type, names), cap the lifetime, sign. Returns the chain leaf first, root last.
 */
export async function createCertificate(request: IstioCertificateRequest, metadata: Metadata, deps: CertificateServiceDeps): Promise<{ chain: string[]; identity: WorkloadIdentity; serialNumber: string; notAfter: Date; keyType: string }> {
  const token = bearerToken(metadata);
  let caller;
  try {
    caller = await deps.authenticate(token);
  } catch (err) {
    if (err instanceof AuthnError) throw new CaRefusal(err.unavailable ? Status.UNAVAILABLE : Status.UNAUTHENTICATED, err.message);
    throw err;
  }
  const identity: WorkloadIdentity = { trustDomain: deps.trustDomain ?? DEFAULT_TRUST_DOMAIN, ...caller };
  const problem = identityProblem(identity);
  if (problem) throw new CaRefusal(Status.PERMISSION_DENIED, `cannot issue for the token's identity: ${problem}`);
  // Istio's node agents may ask for another workload's certificate through this metadata key; tandem
  // has no node agent to trust with that, so the caller only ever gets its own identity.
  if (request.metadata?.fields?.['ImpersonatedIdentity'] !== undefined) throw new CaRefusal(Status.PERMISSION_DENIED, 'impersonation (ImpersonatedIdentity) is not allowed');
  if (!Number.isSafeInteger(request.validity_duration) || request.validity_duration < 0) throw new CaRefusal(Status.INVALID_ARGUMENT, `validity_duration ${request.validity_duration} is not a non-negative number of seconds`);

  let csr;
  try {
    csr = verifyCsr(request.csr);
  } catch (err) {
    if (err instanceof CsrError) throw new CaRefusal(Status.INVALID_ARGUMENT, err.message);
    throw err;
  }
  const keyProblem = keyTypeProblem(csr.key);
  if (keyProblem) throw new CaRefusal(Status.INVALID_ARGUMENT, keyProblem);
  const id = spiffeId(identity);
  const namesProblem = csrNamesProblem(csr.names, id);
  if (namesProblem) throw new CaRefusal(Status.PERMISSION_DENIED, namesProblem);

  const now = deps.now?.() ?? new Date();
  const requestedMs = request.validity_duration > 0 ? request.validity_duration * 1000 : undefined;
  const { notBefore, notAfter } = lifetimeFor(requestedMs, deps.defaultTtlMs ?? DEFAULT_WORKLOAD_TTL_MS, deps.maxTtlMs ?? DEFAULT_MAX_WORKLOAD_TTL_MS, now);
  const issued = issueWorkloadCertificate(deps.authority(), { spki: csr.spki, key: csr.key, identity, notBefore, notAfter });
  return { chain: issued.chain, identity, serialNumber: issued.serialNumber, notAfter: issued.notAfter, keyType: keyLabel(csr.key) };
}

/** Registers istio.v1.auth.IstioCertificateService on a server the caller owns (the 15012 TLS server). */
export function registerCertificateService(server: Server, deps: CertificateServiceDeps): void {
  const logger = deps.logger ?? silentLogger;
  server.addService(certificateServiceDefinition(), {
    CreateCertificate(call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, callback: sendUnaryData<IstioCertificateResponse>): void {
      createCertificate(call.request, call.metadata, deps).then(
        (r) => {
          logger.info({ spiffeId: spiffeId(r.identity), serial: r.serialNumber, key: r.keyType, notAfter: r.notAfter.toISOString(), peer: call.getPeer() }, 'issued workload certificate');
          callback(null, { cert_chain: r.chain });
        },
        (err: unknown) => {
          if (err instanceof CaRefusal) {
            logger.warn({ code: Status[err.code], reason: err.message, peer: call.getPeer() }, 'refused certificate request');
            callback({ code: err.code, details: err.message });
            return;
          }
          logger.error({ err: (err as Error).message, peer: call.getPeer() }, 'certificate request failed');
          callback({ code: Status.INTERNAL, details: 'internal error while signing' });
        },
      );
    },
  });
}
