import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import '../../certs/x509.js';
import * as x509 from '@peculiar/x509';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { loadAuthority, type Authority, type PluginPems } from '../../ca/authority.js';
import { createSelfSignedRoot } from '../../ca/root.js';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const where = (prefix: string): Record<keyof PluginPems, string> => ({
  caCert: `${prefix} ca-cert.pem`, caKey: `${prefix} ca-key.pem`, certChain: `${prefix} cert-chain.pem`, rootCert: `${prefix} root-cert.pem`,
});

export async function selfSignedAuthority(): Promise<{ pems: PluginPems; authority: Authority }> {
  const pems = await createSelfSignedRoot();
  return { pems, authority: await loadAuthority(pems, where('test')) };
}

async function ecKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY') + '\n';
}

/**
 * Istio's plug-in CA as an operator builds it (the istio/tools cert Makefile's shape): an offline
 * root (pathLen 1) and an intermediate for the cluster (pathLen 0), so tandem signs as an intermediate.
 */
export async function pluginIntermediate(): Promise<{ pems: PluginPems; rootPem: string; intermediatePem: string }> {
  const rootKeys = await ecKeys();
  const now = Date.now();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Root CA, O=Istio', notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * 86_400_000), keys: rootKeys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey)],
  });
  const interKeys = await ecKeys();
  const inter = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=Intermediate CA, O=Istio, L=cluster1', issuer: root.subject, notBefore: new Date(now - 60_000), notAfter: new Date(now + 180 * 86_400_000),
    publicKey: interKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), await x509.SubjectKeyIdentifierExtension.create(interKeys.publicKey), await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey)],
  });
  const rootPem = root.toString('pem') + '\n';
  const intermediatePem = inter.toString('pem') + '\n';
  return { pems: { caCert: intermediatePem, caKey: await keyPem(interKeys.privateKey), certChain: intermediatePem + rootPem, rootCert: rootPem }, rootPem, intermediatePem };
}

export type CsrKey = 'p256' | 'p384' | 'p521' | 'ed25519' | 'rsa2048' | 'rsa1024';

const KEY_PARAMS: Record<CsrKey, { gen: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | webcrypto.Algorithm; sign: webcrypto.Algorithm | webcrypto.EcdsaParams }> = {
  p256: { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams },
  p384: { gen: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams },
  p521: { gen: { name: 'ECDSA', namedCurve: 'P-521' }, sign: { name: 'ECDSA', hash: 'SHA-512' } as webcrypto.EcdsaParams },
  ed25519: { gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
  rsa2048: { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
  rsa1024: { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
};

export async function keyPair(kind: CsrKey = 'p256'): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_PARAMS[kind].gen, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** A PKCS#10 request as istio-agent sends it: SANs as given, signed with the requester's key. */
export async function makeCsr(opts: { uris?: string[]; dnsNames?: string[]; key?: CsrKey; keys?: CryptoKeyPair } = {}): Promise<{ pem: string; keys: CryptoKeyPair }> {
  const kind = opts.key ?? 'p256';
  const keys = opts.keys ?? (await keyPair(kind));
  const names = [...(opts.uris ?? []).map((value) => ({ type: 'url' as const, value })), ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value }))];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys, signingAlgorithm: KEY_PARAMS[kind].sign,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return { pem: csr.toString('pem') + '\n', keys };
}

/** A JWKS issuer as the apiserver's service-account signer presents it (ES256). */
export async function jwtIssuer(issuer = 'https://kubernetes.default.svc.cluster.local'): Promise<{ issuer: string; jwks: { keys: JWK[] }; token(claims: { ns: string; sa: string; aud?: string | string[]; iss?: string; expSeconds?: number; sub?: string }): Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  return {
    issuer,
    jwks: { keys: [jwk] },
    async token(c) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ 'kubernetes.io': { namespace: c.ns, serviceaccount: { name: c.sa, uid: 'u-1' } } })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(c.iss ?? issuer)
        .setSubject(c.sub ?? `system:serviceaccount:${c.ns}:${c.sa}`)
        .setAudience(c.aud ?? 'istio-ca')
        .setIssuedAt(now - 10)
        .setExpirationTime(now + (c.expSeconds ?? 3600))
        .sign(privateKey);
    },
  };
}

const run = promisify(execFile);

/** `openssl verify` of a leaf against the roots, intermediates given as untrusted: the independent chain check. */
export async function opensslVerify(rootsPem: string, chain: string[]): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-ca-verify-'));
  try {
    await writeFile(join(dir, 'roots.pem'), rootsPem);
    await writeFile(join(dir, 'leaf.pem'), chain[0]!);
    const args = ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'roots.pem')];
    const inter = chain.slice(1).filter((p) => !rootsPem.includes(p.trim()));
    if (inter.length > 0) {
      await writeFile(join(dir, 'inter.pem'), inter.join(''));
      args.push('-untrusted', join(dir, 'inter.pem'));
    }
    args.push(join(dir, 'leaf.pem'));
    try {
      const { stdout, stderr } = await run('openssl', args);
      return { ok: true, output: stdout + stderr };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The text openssl prints for a certificate: read by tests as a second opinion on extensions. */
export async function opensslText(pem: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-ca-text-'));
  try {
    await writeFile(join(dir, 'c.pem'), pem);
    return (await run('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'c.pem')])).stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
