import { createPublicKey, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;

/** What a subject public key is, as far as signing policy cares. */
export type PublicKeyInfo =
  | { type: 'ec'; curve: string }
  | { type: 'rsa'; bits: number }
  | { type: 'other'; name: string };

const CURVE_NAMES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** Describes a PKIX (SubjectPublicKeyInfo, DER) key; throws when it is not one. */
export function describePublicKey(spki: Uint8Array): PublicKeyInfo {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    const named = details.namedCurve ?? '?';
    return { type: 'ec', curve: CURVE_NAMES[named] ?? named };
  }
  if (key.asymmetricKeyType === 'rsa') return { type: 'rsa', bits: details.modulusLength ?? 0 };
  return { type: 'other', name: key.asymmetricKeyType ?? 'unknown' };
}

export function keyLabel(info: PublicKeyInfo): string {
  if (info.type === 'ec') return `ECDSA ${info.curve}`;
  if (info.type === 'rsa') return `RSA ${info.bits}`;
  return info.name.toUpperCase();
}

/** The key as a WebCrypto key @peculiar/x509 can put into a certificate (only for keys policy accepted). */
export function importPublicKey(spki: Uint8Array, info: PublicKeyInfo): Promise<CryptoKey> {
  const params: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams = info.type === 'ec'
    ? { name: 'ECDSA', namedCurve: info.curve }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return webcrypto.subtle.importKey('spki', spki, params, true, ['verify']);
}
