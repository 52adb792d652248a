// first: sets the Reflect metadata API and the crypto provider @peculiar/x509 needs at load
import '../certs/x509.js';
import * as x509 from '@peculiar/x509';
import { describePublicKey, type PublicKeyInfo } from './public-key.js';

/** A CSR whose self-signature verified, reduced to what signing policy looks at. */
export interface VerifiedCsr {
  spki: Uint8Array;
  key: PublicKeyInfo;
  names: { uris: string[]; dnsNames: string[]; ips: string[]; emails: string[] };
}

export class CsrError extends Error {
  override readonly name = 'CsrError';
}

/** Parses a PEM PKCS#10 request and checks its signature (proof that the requester holds the key). */
export async function verifyCsr(pem: string): Promise<VerifiedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) throw new Error('no PEM "CERTIFICATE REQUEST" block');
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new CsrError(`the CSR does not parse: ${(err as Error).message}`);
  }
  const spki = new Uint8Array(csr.publicKey.rawData);
  let key: PublicKeyInfo;
  try {
    key = describePublicKey(spki);
  } catch (err) {
    throw new CsrError(`the CSR's public key does not parse: ${(err as Error).message}`);
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw new CsrError('the CSR signature does not verify with its own public key');
  const names = { uris: [] as string[], dnsNames: [] as string[], ips: [] as string[], emails: [] as string[] };
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  for (const n of san?.names.items ?? []) {
    if (n.type === 'url') names.uris.push(n.value);
    else if (n.type === 'dns') names.dnsNames.push(n.value);
    else if (n.type === 'ip') names.ips.push(n.value);
    else if (n.type === 'email') names.emails.push(n.value);
    else names.uris.push(`${n.type}:${n.value}`);
  }
  return { spki, key, names };
}
