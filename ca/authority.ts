import { createPrivateKey, createPublicKey, webcrypto, type KeyObject, type X509Certificate } from 'node:crypto';
import { UserError } from '../common/errors.js';
import { joinPem, parseCertificates } from './pem.js';

type CryptoKey = webcrypto.CryptoKey;

/**
 * The signing material of the mesh CA in Istio's plug-in layout (the `cacerts` Secret and
 * `tandem ca init` directories): the signing certificate and key, the chain from it up to the
 * root, and the root(s) workloads trust. For a self-signed root all three certificates are the root.
 */
export interface PluginPems {
  caCert: string;
  caKey: string;
  certChain: string;
  rootCert: string;
}

/** Istio's plug-in file names. */
export const PLUGIN_FILES = { caCert: 'ca-cert.pem', caKey: 'ca-key.pem', certChain: 'cert-chain.pem', rootCert: 'root-cert.pem' } as const;

/** Where each part came from, for error messages ("Secret tandem-system/cacerts key ca-key.pem", a file path). */
export type PluginWhere = Record<keyof PluginPems, string>;

/** A loaded, checked CA able to sign workload certificates. */
export interface Authority {
  /** the signing certificate (the root itself, or an intermediate under a plug-in root) */
  caCert: X509Certificate;
  caCertPem: string;
  /** the CA key for WebCrypto (@peculiar/x509: the 15012 serving certificate) */
  signingKey: CryptoKey;
  /** the CA key for node:crypto (the workload-certificate hot path, ca/sign.ts) */
  signingKeyObject: KeyObject;
  signingAlgorithm: webcrypto.EcdsaParams | webcrypto.Algorithm;
  /** certificates to send after a leaf, in order: the signing certificate, its chain, ending with the root */
  chainPems: string[];
  /** every root workloads should trust (the root, plus others the plug-in root-cert.pem lists) */
  rootsPem: string;
  /** true when signing as an intermediate under a root tandem does not hold */
  intermediate: boolean;
}

function spkiDer(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

function selfSigned(c: X509Certificate): boolean {
  return c.checkIssued(c) && c.verify(c.publicKey);
}

const CURVES: Record<string, { webName: string; hash: string }> = {
  prime256v1: { webName: 'P-256', hash: 'SHA-256' },
  secp384r1: { webName: 'P-384', hash: 'SHA-384' },
};

/** The CA key as a WebCrypto signing key (what @peculiar/x509 signs with), and the matching algorithm. */
async function importSigningKey(key: KeyObject, where: string): Promise<{ key: CryptoKey; algorithm: webcrypto.EcdsaParams | webcrypto.Algorithm }> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!curve) throw new UserError(`${where}: EC curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'} is not supported (P-256 or P-384)`);
    return {
      key: await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve.webName }, false, ['sign']),
      algorithm: { name: 'ECDSA', hash: curve.hash },
    };
  }
  if (key.asymmetricKeyType === 'rsa') {
    return {
      key: await webcrypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']),
      algorithm: { name: 'RSASSA-PKCS1-v1_5' },
    };
  }
  throw new UserError(`${where}: key type ${key.asymmetricKeyType ?? '?'} cannot sign certificates here (ECDSA or RSA)`);
}

/**
 * Checks plug-in material the way a CA must before signing anything with it, and loads it. Every
 * problem is a UserError naming the part at fault: a broken `cacerts` stops start-up loudly rather
 * than falling back to a self-signed root.
 */
export async function loadAuthority(pems: PluginPems, where: PluginWhere, now: Date = new Date()): Promise<Authority> {
  const fail = (part: keyof PluginPems, msg: string): never => {
    throw new UserError(`${where[part]}: ${msg}`);
  };
  const certs = (part: keyof PluginPems): X509Certificate[] => {
    try {
      return parseCertificates(pems[part], where[part]);
    } catch (err) {
      throw new UserError((err as Error).message, { cause: err });
    }
  };
  const caCerts = certs('caCert');
  if (caCerts.length !== 1) fail('caCert', `expected exactly one certificate, found ${caCerts.length}`);
  const caCert = caCerts[0]!;
  const chain = certs('certChain');
  const roots = certs('rootCert');

  let key: KeyObject;
  try {
    key = createPrivateKey(pems.caKey);
  } catch (err) {
    return fail('caKey', `not a PEM private key (${(err as Error).message})`);
  }
  if (!spkiDer(createPublicKey(key)).equals(spkiDer(caCert.publicKey))) fail('caKey', `does not match the public key of ${where.caCert}`);
  if (!caCert.ca) fail('caCert', 'is not a CA certificate (basicConstraints cA is not set)');
  if (Date.parse(caCert.validTo) <= now.getTime()) fail('caCert', `expired on ${new Date(caCert.validTo).toISOString()}`);
  if (Date.parse(caCert.validFrom) > now.getTime()) fail('caCert', `not valid before ${new Date(caCert.validFrom).toISOString()}`);
  for (const r of roots) if (!selfSigned(r)) fail('rootCert', `certificate "${r.subject.replace(/\n/g, ', ')}" is not self-signed`);

  // Walk from the signing certificate to a root through cert-chain.pem; each link's signature is checked.
  const path: X509Certificate[] = [caCert];
  let cur = caCert;
  const isRoot = (c: X509Certificate): boolean => roots.some((r) => r.fingerprint256 === c.fingerprint256);
  while (!isRoot(cur)) {
    const issuer = [...chain, ...roots].find((c) => c.fingerprint256 !== cur.fingerprint256 && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!issuer || path.length > 8) fail('certChain', `${where.caCert} does not chain up to a root of ${where.rootCert}`);
    if (Date.parse(issuer!.validTo) <= now.getTime()) fail(isRoot(issuer!) ? 'rootCert' : 'certChain', `certificate "${issuer!.subject.replace(/\n/g, ', ')}" expired on ${new Date(issuer!.validTo).toISOString()}`);
    path.push(issuer!);
    cur = issuer!;
  }
  const signing = await importSigningKey(key, where.caKey);
  return {
    caCert,
    caCertPem: caCert.toString(),
    signingKey: signing.key,
    signingKeyObject: key,
    signingAlgorithm: signing.algorithm,
    chainPems: path.map((c) => c.toString()),
    rootsPem: joinPem(roots.map((r) => r.toString())),
    intermediate: path.length > 1,
  };
}
