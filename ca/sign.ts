import { webcrypto } from 'node:crypto';
// first: sets the Reflect metadata API and the crypto provider @peculiar/x509 needs at load
import '../certs/x509.js';
import * as x509 from '@peculiar/x509';
import type { Authority } from './authority.js';
import { spiffeId, type WorkloadIdentity } from './spiffe.js';

type CryptoKey = webcrypto.CryptoKey;

export interface WorkloadCertRequest {
  publicKey: CryptoKey;
  identity: WorkloadIdentity;
  notBefore: Date;
  notAfter: Date;
}

export interface IssuedCertificate {
  /** leaf first, root last: what the CA API returns and what `cert-chain.pem` holds (without the root) */
  chain: string[];
  certPem: string;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  spiffeId: string;
}

/** Positive 128-bit serial (RFC 5280: at most 20 octets, top bit clear). */
export function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

interface IssuerFacts {
  /** the CA's subject as encoded in its certificate, so the leaf's issuer matches it byte for byte */
  name: x509.Name;
  aki: x509.AuthorityKeyIdentifierExtension;
}

// Issuer name and authority key identifier depend only on the CA: derived once per CA, not per
// certificate (parsing the CA certificate and hashing its key cost as much as a signature).
const issuerCache = new WeakMap<Authority, Promise<IssuerFacts>>();

function issuerFacts(authority: Authority): Promise<IssuerFacts> {
  let facts = issuerCache.get(authority);
  if (!facts) {
    const ca = new x509.X509Certificate(authority.caCertPem);
    const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
    facts = (ski ? Promise.resolve(new x509.AuthorityKeyIdentifierExtension(ski.keyId)) : x509.AuthorityKeyIdentifierExtension.create(ca.publicKey))
      .then((aki) => ({ name: new x509.Name(ca.subjectName.toArrayBuffer()), aki }));
    issuerCache.set(authority, facts);
  }
  return facts;
}

/**
 * An X.509 SVID: exactly one URI SAN (the SPIFFE ID), empty subject (so the SAN is critical, RFC 5280
 * 4.2.1.6, as Istio's CA does), not a CA, digital signature (+ key encipherment for RSA keys),
 * serverAuth + clientAuth, signed by the authority. The caller decides identity and lifetime.
 */
export async function issueWorkloadCertificate(authority: Authority, req: WorkloadCertRequest): Promise<IssuedCertificate> {
  const id = spiffeId(req.identity);
  const usage = req.publicKey.algorithm.name === 'ECDSA'
    ? x509.KeyUsageFlags.digitalSignature
    : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  // A leaf never outlives its CA: chains are checked against every certificate's validity.
  const notAfter = new Date(Math.min(req.notAfter.getTime(), Date.parse(authority.caCert.validTo)));
  const serialNumber = randomSerial();
  const issuer = await issuerFacts(authority);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: '',
    issuer: issuer.name,
    notBefore: req.notBefore,
    notAfter,
    publicKey: req.publicKey,
    signingKey: authority.signingKey,
    signingAlgorithm: authority.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }], true),
      issuer.aki,
    ],
  });
  const certPem = cert.toString('pem') + '\n';
  return { chain: [certPem, ...authority.chainPems], certPem, notBefore: req.notBefore, notAfter, serialNumber, spiffeId: id };
}
