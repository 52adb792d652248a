import { webcrypto } from 'node:crypto';
// first: sets the Reflect metadata API and the crypto provider @peculiar/x509 needs at load
import '../certs/x509.js';
import * as x509 from '@peculiar/x509';
import type { Authority } from './authority.js';
import { joinPem } from './pem.js';
import { DEFAULT_MAX_WORKLOAD_TTL_MS, lifetimeFor } from './policy.js';
import { issueWorkloadCertificate, type IssuedCertificate } from './sign.js';
import type { WorkloadIdentity } from './spiffe.js';
import type { WorkloadPems } from './workload-files.js';

/**
 * Issues a workload certificate with a key generated here (ECDSA P-256): `tandem ca issue`, for VMs
 * and tests. The cluster paths never see private keys (Pod Certificates, the CA API take public keys).
 */
export async function issueWithNewKey(
  authority: Authority,
  identity: WorkloadIdentity,
  ttlMs: number,
  now: Date = new Date(),
): Promise<{ issued: IssuedCertificate; pems: WorkloadPems }> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const { notBefore, notAfter } = lifetimeFor(ttlMs, ttlMs, Math.max(ttlMs, DEFAULT_MAX_WORKLOAD_TTL_MS), now);
  const issued = issueWorkloadCertificate(authority, { spki: new Uint8Array(await webcrypto.subtle.exportKey('spki', keys.publicKey)), key: { type: 'ec', curve: 'P-256' }, identity, notBefore, notAfter });
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') + '\n';
  // cert-chain.pem: the leaf and the intermediates; the root travels alone in root-cert.pem.
  const withoutRoot = issued.chain.length > 1 ? issued.chain.slice(0, -1) : issued.chain;
  return { issued, pems: { chainPem: joinPem(withoutRoot), keyPem, rootPem: authority.rootsPem } };
}
