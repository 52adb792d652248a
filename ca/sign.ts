import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { Authority } from './authority.js';
import { bytes, children, content, expectTag, oid, positiveInteger, readTlv, seq, time, tlv } from './der.js';
import type { PublicKeyInfo } from './public-key.js';
import { spiffeId, type WorkloadIdentity } from './spiffe.js';

export interface WorkloadCertRequest {
  /** the subject's DER SubjectPublicKeyInfo (from a verified CSR or a PodCertificateRequest) */
  spki: Uint8Array;
  key: PublicKeyInfo;
  identity: WorkloadIdentity;
  notBefore: Date;
  notAfter: Date;
}

export interface IssuedCertificate {
  /** leaf first, root last: what the CA API returns */
  chain: string[];
  certPem: string;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  spiffeId: string;
}

/** Positive 128-bit serial (RFC 5280: at most 20 octets), hex. */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

interface IssuerFacts {
  /** the CA's subject exactly as encoded in its certificate: the leaf's issuer must match it byte for byte */
  name: Buffer;
  /** the authorityKeyIdentifier extension, whole */
  aki: Buffer;
  algorithm: Buffer;
  hash: string;
  key: KeyObject;
  dsaEncoding?: 'der';
}

const OID = (hex: string): Buffer => tlv(0x06, Buffer.from(hex, 'hex'));
const ALGORITHMS = {
  'ecdsa-sha256': { der: seq(OID('2a8648ce3d040302')), hash: 'sha256' },
  'ecdsa-sha384': { der: seq(OID('2a8648ce3d040303')), hash: 'sha384' },
  'rsa-sha256': { der: seq(OID('2a864886f70d01010b'), Buffer.from([0x05, 0x00])), hash: 'sha256' },
};

const issuerCache = new WeakMap<Authority, IssuerFacts>();

/** Issuer name, key identifier and signature algorithm: derived once per CA, not per certificate. */
function issuerFacts(authority: Authority): IssuerFacts {
  const cached = issuerCache.get(authority);
  if (cached) return cached;
  const der = authority.caCert.raw;
  const tbs = children(der, readTlv(der, 0))[0]!;
  const fields = children(der, tbs);
  const base = fields[0]!.tag === 0xa0 ? 1 : 0;
  const subject = expectTag(fields[base + 4], 0x30, 'CA subject');
  const spki = children(der, expectTag(fields[base + 5], 0x30, 'CA subjectPublicKeyInfo'));
  // The CA's subjectKeyIdentifier when it has one, else RFC 5280's method 1 (SHA-1 of the key bits).
  let keyId: Buffer | undefined;
  const extsWrapper = fields.find((f) => f.tag === 0xa3);
  if (extsWrapper) {
    for (const ext of children(der, readTlv(der, extsWrapper.start, extsWrapper.end))) {
      const parts = children(der, ext);
      if (oid(content(der, parts[0]!)) === '2.5.29.14') {
        const value = parts[parts.length - 1]!;
        keyId = content(der, readTlv(der, value.start, value.end));
      }
    }
  }
  keyId ??= createHash('sha1').update(content(der, spki[1]!).subarray(1)).digest();
  const aki = seq(OID('551d23'), tlv(0x04, seq(tlv(0x80, keyId))));
  const key = authority.signingKeyObject;
  const alg = key.asymmetricKeyType === 'rsa' ? ALGORITHMS['rsa-sha256'] : key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? ALGORITHMS['ecdsa-sha384'] : ALGORITHMS['ecdsa-sha256'];
  const facts: IssuerFacts = { name: bytes(der, subject), aki, algorithm: alg.der, hash: alg.hash, key, ...(key.asymmetricKeyType === 'ec' ? { dsaEncoding: 'der' as const } : {}) };
  issuerCache.set(authority, facts);
  return facts;
}

// The extensions every workload certificate carries, encoded once.
const BASIC_CONSTRAINTS = seq(OID('551d13'), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, seq())); // critical, cA false
const KEY_USAGE_EC = seq(OID('551d0f'), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, tlv(0x03, Buffer.from([0x07, 0x80])))); // critical, digitalSignature
const KEY_USAGE_RSA = seq(OID('551d0f'), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, tlv(0x03, Buffer.from([0x05, 0xa0])))); // + keyEncipherment
const EXT_KEY_USAGE = seq(OID('551d25'), tlv(0x04, seq(OID('2b06010505070301'), OID('2b06010505070302')))); // serverAuth, clientAuth

function pem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * An X.509 SVID: v3, exactly one URI SAN (the SPIFFE ID), empty subject (so the SAN is critical,
 * RFC 5280 4.2.1.6, as Istio's CA does), not a CA, digital signature (+ key encipherment for RSA
 * keys), serverAuth + clientAuth, authority key identifier, signed by the authority. Never outlives
 * the CA. The caller decides identity and lifetime, after verifying the request.
 */
export function issueWorkloadCertificate(authority: Authority, req: WorkloadCertRequest): IssuedCertificate {
  const facts = issuerFacts(authority);
  const id = spiffeId(req.identity);
  const notAfter = new Date(Math.min(req.notAfter.getTime(), Date.parse(authority.caCert.validTo)));
  const serialNumber = randomSerial();
  const san = seq(OID('551d11'), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, seq(tlv(0x86, Buffer.from(id, 'utf8')))));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([0x02]))),
    positiveInteger(Buffer.from(serialNumber, 'hex')),
    facts.algorithm,
    facts.name,
    seq(time(req.notBefore), time(notAfter)),
    seq(),
    Buffer.from(req.spki),
    tlv(0xa3, seq(BASIC_CONSTRAINTS, req.key.type === 'rsa' ? KEY_USAGE_RSA : KEY_USAGE_EC, EXT_KEY_USAGE, san, facts.aki)),
  );
  const signature = sign(facts.hash, tbs, facts.dsaEncoding ? { key: facts.key, dsaEncoding: facts.dsaEncoding } : facts.key);
  const certPem = pem(seq(tbs, facts.algorithm, tlv(0x03, Buffer.from([0]), signature)));
  return { chain: [certPem, ...authority.chainPems], certPem, notBefore: req.notBefore, notAfter, serialNumber, spiffeId: id };
}
