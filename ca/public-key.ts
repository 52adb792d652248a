import { createPublicKey, KeyObject } from 'node:crypto';

/** What a subject public key is, as far as signing policy cares. */
export type PublicKeyInfo =
  | { type: 'ec'; curve: string }
  | { type: 'rsa'; bits: number }
  | { type: 'other'; name: string };

const CURVE_NAMES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** Describes a PKIX (SubjectPublicKeyInfo, DER) key, or an already parsed one; throws when it is not one. */
export function describePublicKey(spki: Uint8Array | KeyObject): PublicKeyInfo {
  const key = spki instanceof KeyObject ? spki : createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
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
