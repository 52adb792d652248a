// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import * as x509 from '@peculiar/x509';

// @peculiar/x509 needs a WebCrypto implementation; Node's is complete for ECDSA and RSA.
x509.cryptoProvider.set(webcrypto);

export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048';

/** PEM-encoded certificate and its PKCS#8 private key. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;
// Clocks across a cluster drift; backdating avoids "not yet valid" right after issuance.
const BACKDATE_MS = 5 * 60 * 1000;

/** A validity window of `days` starting (slightly backdated) at `now`. */
export function validityFor(days: number, now: Date = new Date()): Validity {
  return { notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter: new Date(now.getTime() + days * DAY_MS) };
}

function keyParams(alg: KeyAlgorithm): webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams {
  return alg === 'rsa-2048'
    ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: 'P-256' };
}

function signingAlgorithm(key: CryptoKey): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return key.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as webcrypto.Algorithm;
}

async function generateKeys(alg: KeyAlgorithm): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyParams(alg), true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/** Positive 128-bit serial (RFC 5280 allows up to 20 octets; the top bit must be clear). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** Parses a PKCS#8 PEM into a WebCrypto signing key of the algorithm the certificate carries. */
async function importSigningKey(keyPem: string, certPem: string): Promise<CryptoKey> {
  const cert = new x509.X509Certificate(certPem);
  const alg = cert.publicKey.algorithm;
  const params: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams =
    alg.name === 'ECDSA'
      ? { name: 'ECDSA', namedCurve: (alg as webcrypto.EcKeyAlgorithm).namedCurve }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), params, false, ['sign']);
}

export interface CreateCaOptions {
  algorithm?: KeyAlgorithm;
  commonName?: string;
  validity: Validity;
}

/** A self-signed CA that may only sign end-entity certificates (pathLen 0). */
export async function createCa(opts: CreateCaOptions): Promise<PemPair> {
  const keys = await generateKeys(opts.algorithm ?? 'ecdsa-p256');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${opts.commonName ?? 'tandem webhook CA'}, O=tandem`,
    notBefore: opts.validity.notBefore,
    notAfter: opts.validity.notAfter,
    keys,
    signingAlgorithm: signingAlgorithm(keys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

export interface IssueServingOptions {
  ca: PemPair;
  dnsNames: string[];
  ips?: string[];
  algorithm?: KeyAlgorithm;
  validity: Validity;
}

/** A TLS server certificate for `dnsNames`/`ips`, signed by `ca`. */
export async function issueServingCert(opts: IssueServingOptions): Promise<PemPair> {
  const keys = await generateKeys(opts.algorithm ?? 'ecdsa-p256');
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  const caKey = await importSigningKey(opts.ca.keyPem, opts.ca.certPem);
  const usage = keys.privateKey.algorithm.name === 'ECDSA'
    ? x509.KeyUsageFlags.digitalSignature
    : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  const names: x509.JsonGeneralNames = [
    ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${opts.dnsNames[0] ?? opts.ips?.[0] ?? 'tandem-webhook'}`,
    issuer: caCert.subject,
    notBefore: opts.validity.notBefore,
    notAfter: opts.validity.notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: signingAlgorithm(caKey),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}
