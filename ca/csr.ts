import { createPublicKey, verify } from 'node:crypto';
import { children, content, DerError, expectTag, oid, readTlv, bytes } from './der.js';
import { describePublicKey, type PublicKeyInfo } from './public-key.js';

/** A CSR whose self-signature verified, reduced to what signing policy looks at. */
export interface VerifiedCsr {
  /** DER SubjectPublicKeyInfo */
  spki: Buffer;
  key: PublicKeyInfo;
  names: { uris: string[]; dnsNames: string[]; ips: string[]; emails: string[] };
}

export class CsrError extends Error {
  override readonly name = 'CsrError';
}

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const SUBJECT_ALT_NAME = '2.5.29.17';
/** Signature algorithms a CSR may use, and the hash node:crypto verifies with (null: Ed25519). */
const SIGNATURE_HASHES: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null, // Ed25519
};

function ipText(c: Buffer): string {
  if (c.length === 4) return [...c].join('.');
  if (c.length === 16) return (c.toString('hex').match(/.{4}/g) ?? []).join(':');
  return c.toString('hex');
}

/** The SANs of the extensionRequest attribute ([0] attributes of the CertificationRequestInfo). */
function sanNames(der: Buffer, attributes: import('./der.js').Tlv | undefined): VerifiedCsr['names'] {
  const names = { uris: [] as string[], dnsNames: [] as string[], ips: [] as string[], emails: [] as string[] };
  if (!attributes) return names;
  for (const attr of children(der, attributes)) {
    const [type, values] = children(der, expectTag(attr, 0x30, 'attribute'));
    if (oid(content(der, expectTag(type, 0x06, 'attribute type'))) !== EXTENSION_REQUEST) continue;
    for (const exts of children(der, expectTag(values, 0x31, 'attribute values'))) {
      for (const ext of children(der, expectTag(exts, 0x30, 'extensions'))) {
        const parts = children(der, expectTag(ext, 0x30, 'extension'));
        if (oid(content(der, expectTag(parts[0], 0x06, 'extension id'))) !== SUBJECT_ALT_NAME) continue;
        const value = expectTag(parts[parts.length - 1], 0x04, 'extension value');
        const seq = readTlv(der, value.start, value.end);
        for (const gn of children(der, expectTag(seq, 0x30, 'GeneralNames'))) {
          const c = content(der, gn);
          if (gn.tag === 0x86) names.uris.push(c.toString('utf8'));
          else if (gn.tag === 0x82) names.dnsNames.push(c.toString('utf8'));
          else if (gn.tag === 0x87) names.ips.push(ipText(c));
          else if (gn.tag === 0x81) names.emails.push(c.toString('utf8'));
          else names.uris.push(`GeneralName[${gn.tag & 0x1f}]`);
        }
      }
    }
  }
  return names;
}

/** Parses a PEM PKCS#10 request and checks its signature (proof that the requester holds the key). */
export function verifyCsr(pem: string): VerifiedCsr {
  const m = /-----BEGIN CERTIFICATE REQUEST-----([\s\S]*?)-----END CERTIFICATE REQUEST-----/.exec(pem);
  if (!m) throw new CsrError('the CSR does not parse: no PEM "CERTIFICATE REQUEST" block');
  const der = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  let cri, algOid: string, signature: Buffer, spki: Buffer, names: VerifiedCsr['names'];
  try {
    const outer = expectTag(readTlv(der, 0), 0x30, 'CertificationRequest');
    if (outer.end !== der.length) throw new DerError('trailing bytes');
    const [info, alg, sig] = children(der, outer);
    cri = expectTag(info, 0x30, 'CertificationRequestInfo');
    const [version, subject, pki, attributes] = children(der, cri);
    expectTag(version, 0x02, 'version');
    expectTag(subject, 0x30, 'subject');
    spki = bytes(der, expectTag(pki, 0x30, 'subjectPKInfo'));
    algOid = oid(content(der, expectTag(children(der, expectTag(alg, 0x30, 'signatureAlgorithm'))[0], 0x06, 'algorithm')));
    const bits = content(der, expectTag(sig, 0x03, 'signature'));
    if (bits[0] !== 0) throw new DerError('signature BIT STRING has unused bits');
    signature = bits.subarray(1);
    names = sanNames(der, attributes && attributes.tag === 0xa0 ? attributes : undefined);
  } catch (err) {
    throw new CsrError(`the CSR does not parse: ${(err as Error).message}`);
  }
  let key: PublicKeyInfo;
  let keyObject;
  try {
    keyObject = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    key = describePublicKey(keyObject);
  } catch (err) {
    throw new CsrError(`the CSR's public key does not parse: ${(err as Error).message}`);
  }
  const hash = SIGNATURE_HASHES[algOid];
  if (hash === undefined) throw new CsrError(`the CSR's signature algorithm ${algOid} is not supported`);
  let ok = false;
  try {
    ok = verify(hash, bytes(der, cri), keyObject.asymmetricKeyType === 'ec' ? { key: keyObject, dsaEncoding: 'der' } : keyObject, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new CsrError('the CSR signature does not verify with its own public key');
  return { spki, key, names };
}
