import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { UserError } from '../common/errors.js';

/** What callers need to know about a serving certificate, e.g. to log which one is live. */
export interface CertInfo {
  serialNumber: string;
  fingerprint256: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ips: string[];
}

/** A validated key/cert pair ready for `tls.createSecureContext`. */
export interface ServingCert {
  certPem: string;
  keyPem: string;
  /** ca.crt when the directory has one (self-managed and cert-manager Secrets do) */
  caPem?: string;
  info: CertInfo;
  /** problems that do not stop serving (missing service SAN, chain not matching ca.crt) */
  warnings: string[];
}

export interface CertSources {
  certPem: string;
  keyPem: string;
  caPem?: string;
  /** names used in messages, usually the file paths */
  certFile: string;
  keyFile: string;
  caFile?: string;
}

export interface InspectOptions {
  /** host names the apiserver will verify; a missing one is a warning */
  expectDnsNames?: string[];
  now?: Date;
}

function parseCert(pem: string, file: string): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`${file}: no PEM certificate found`);
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new UserError(`${file}: cannot parse certificate (${(err as Error).message})`, { cause: err });
  }
}

function parseKey(pem: string, file: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new UserError(`${file}: cannot parse private key (${(err as Error).message})`, { cause: err });
  }
}

/** Splits Node's `subjectAltName` rendering ("DNS:a, IP Address:1.2.3.4") into names and addresses. */
export function parseSubjectAltName(san: string | undefined): { dnsNames: string[]; ips: string[] } {
  const dnsNames: string[] = [];
  const ips: string[] = [];
  for (const part of (san ?? '').split(', ')) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4));
    else if (part.startsWith('IP Address:')) ips.push(part.slice(11));
  }
  return { dnsNames, ips };
}

export function certInfo(cert: X509Certificate): CertInfo {
  return {
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    subject: cert.subject,
    issuer: cert.issuer,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    ...parseSubjectAltName(cert.subjectAltName),
  };
}

/**
 * Validates a serving key/cert pair. Throws UserError (naming the file) for what must stop
 * a webhook from serving: unparseable files, a key that is not the certificate's, a
 * certificate outside its validity window. Returns warnings for what merely looks wrong.
 */
export function inspectServingCert(src: CertSources, opts: InspectOptions = {}): ServingCert {
  const now = opts.now ?? new Date();
  const cert = parseCert(src.certPem, src.certFile);
  const key = parseKey(src.keyPem, src.keyFile);
  if (!cert.checkPrivateKey(key)) {
    throw new UserError(`${src.keyFile} does not match the certificate in ${src.certFile} (serial ${cert.serialNumber})`);
  }
  const info = certInfo(cert);
  if (now.getTime() >= info.notAfter.getTime()) {
    throw new UserError(`${src.certFile} expired at ${info.notAfter.toISOString()} (serial ${info.serialNumber})`);
  }
  if (now.getTime() < info.notBefore.getTime()) {
    throw new UserError(`${src.certFile} is not valid before ${info.notBefore.toISOString()} (serial ${info.serialNumber})`);
  }
  const warnings: string[] = [];
  const missing = (opts.expectDnsNames ?? []).filter((name) => cert.checkHost(name) === undefined);
  if (missing.length > 0) {
    const found = [...info.dnsNames.map((n) => `DNS:${n}`), ...info.ips.map((ip) => `IP:${ip}`)];
    warnings.push(`${src.certFile} has no SAN for ${missing.join(', ')}; SANs found: ${found.length > 0 ? found.join(', ') : 'none'}`);
  }
  if (src.caPem !== undefined) {
    const caFile = src.caFile ?? 'ca.crt';
    let ca: X509Certificate | undefined;
    try {
      ca = new X509Certificate(src.caPem);
    } catch {
      warnings.push(`${caFile}: cannot parse the CA certificate; the chain of ${src.certFile} was not checked`);
    }
    if (ca && !(cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
      warnings.push(`${src.certFile} is not signed by the CA in ${caFile}; a caBundle built from ${caFile} will be rejected`);
    }
  }
  return { certPem: src.certPem, keyPem: src.keyPem, ...(src.caPem !== undefined ? { caPem: src.caPem } : {}), info, warnings };
}
