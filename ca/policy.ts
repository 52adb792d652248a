import type { PublicKeyInfo } from './public-key.js';

/**
 * Signing decisions, pure: which keys the mesh signs for, what lifetime a certificate gets, whether
 * a CSR's names agree with the authenticated identity. Kept apart from gRPC and Kubernetes I/O.
 */

/**
 * Envoy (BoringSSL) serves and validates ECDSA P-256/P-384 and RSA certificates; it cannot use
 * Ed25519 or P-521 certificates for TLS, so the mesh does not sign them. RSA below 2048 bits is weak.
 */
export function keyTypeProblem(info: PublicKeyInfo): string | undefined {
  if (info.type === 'ec') return info.curve === 'P-256' || info.curve === 'P-384' ? undefined : `ECDSA ${info.curve} keys cannot be used by Envoy; use ECDSA P-256`;
  if (info.type === 'rsa') return info.bits >= 2048 ? undefined : `RSA ${info.bits} is too short; use ECDSA P-256 or RSA of at least 2048 bits`;
  return `${info.name} keys cannot be used by Envoy; use ECDSA P-256`;
}

export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3_600_000;
/** Istio's default cap on a workload certificate (90 days, MAX_WORKLOAD_CERT_TTL). */
export const DEFAULT_MAX_WORKLOAD_TTL_MS = 90 * 24 * 3_600_000;
/** Clocks across a cluster drift: notBefore is this far in the past. */
export const BACKDATE_MS = 60_000;

export interface Lifetime {
  notBefore: Date;
  notAfter: Date;
}

/**
 * The validity window: the requested lifetime (or the default when none or a non-positive one is
 * asked), never beyond `maxMs`. The lifetime counts from the backdated notBefore, so the
 * certificate never spans more than the cap (the PodCertificateRequest API checks exactly that).
 */
export function lifetimeFor(requestedMs: number | undefined, defaultMs: number, maxMs: number, now: Date): Lifetime {
  const wanted = requestedMs !== undefined && requestedMs > 0 ? requestedMs : defaultMs;
  const ms = Math.min(wanted, maxMs);
  const notBefore = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + ms) };
}

/** A CSR may name nothing, or exactly the caller's SPIFFE ID; anything else asks for another identity. */
export function csrNamesProblem(names: { uris: string[]; dnsNames: string[]; ips: string[]; emails: string[] }, spiffeId: string): string | undefined {
  const foreign = names.uris.filter((u) => u !== spiffeId);
  if (foreign.length > 0) return `the CSR asks for ${foreign.join(', ')} but the caller is ${spiffeId}`;
  const other = [...names.dnsNames.map((d) => `DNS:${d}`), ...names.ips.map((i) => `IP:${i}`), ...names.emails.map((e) => `email:${e}`)];
  if (other.length > 0) return `the CSR asks for ${other.join(', ')}; a workload certificate carries only ${spiffeId}`;
  return undefined;
}
