import t from 'tap';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import '../../certs/x509.js';
import * as x509 from '@peculiar/x509';
import { loadAuthority } from '../../ca/authority.js';
import { CsrError, verifyCsr } from '../../ca/csr.js';
import { issueWorkloadCertificate } from '../../ca/sign.js';
import { createCa } from '../../certs/x509.js';
import { opensslText, selfSignedAuthority, where } from './helpers.js';

/** The hand-written DER of ca/der.ts checked against independent implementations: openssl makes the CSRs, @peculiar/x509 and openssl read the certificates. */

const run = promisify(execFile);

async function opensslCsr(keyArgs: string[], san: string): Promise<{ pem: string; spkiHex: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-der-'));
  try {
    await run('openssl', ['req', '-new', '-newkey', ...keyArgs, '-nodes', '-keyout', join(dir, 'k.pem'), '-subj', '/O=istio', '-addext', `subjectAltName=${san}`, '-out', join(dir, 'r.pem')]);
    const spki = (await run('openssl', ['pkey', '-in', join(dir, 'k.pem'), '-pubout', '-outform', 'DER'], { encoding: 'buffer' })).stdout as Buffer;
    return { pem: await readFile(join(dir, 'r.pem'), 'utf8'), spkiHex: spki.toString('hex') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

t.test('CSRs made by openssl: names, key and signature read right', async (t) => {
  const ec = await opensslCsr(['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'URI:spiffe://cluster.local/ns/a/sa/b,DNS:b.a.svc,IP:10.0.0.7,email:x@example.com');
  const v = verifyCsr(ec.pem);
  t.same(v.names, { uris: ['spiffe://cluster.local/ns/a/sa/b'], dnsNames: ['b.a.svc'], ips: ['10.0.0.7'], emails: ['x@example.com'] });
  t.same(v.key, { type: 'ec', curve: 'P-256' });
  t.equal(v.spki.toString('hex'), ec.spkiHex, 'the SubjectPublicKeyInfo, byte for byte');
  const rsa = await opensslCsr(['rsa:2048'], 'URI:spiffe://cluster.local/ns/a/sa/b');
  t.same(verifyCsr(rsa.pem).key, { type: 'rsa', bits: 2048 });

  const der = Buffer.from(ec.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const wrap = (b: Buffer): string => `-----BEGIN CERTIFICATE REQUEST-----\n${b.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.throws(() => verifyCsr(wrap(der.subarray(0, der.length - 10))), CsrError, 'truncated');
  t.throws(() => verifyCsr(wrap(Buffer.concat([der, Buffer.from([0, 0])]))), /trailing bytes/, 'trailing bytes');
  const flipped = Buffer.from(der);
  flipped[40] = flipped[40]! ^ 0x01; // inside the CertificationRequestInfo: the signature no longer matches
  t.throws(() => verifyCsr(wrap(flipped)), CsrError);
});

t.test('workload certificates read back by @peculiar/x509 and openssl', async (t) => {
  const { authority } = await selfSignedAuthority();
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  const issued = issueWorkloadCertificate(authority, { spki, key: { type: 'ec', curve: 'P-256' }, identity: { trustDomain: 'cluster.local', namespace: 'a', serviceAccount: 'b' }, notBefore, notAfter: new Date(notBefore.getTime() + 3_600_000) });
  const cert = new x509.X509Certificate(issued.certPem);
  const ca = new x509.X509Certificate(authority.caCertPem);
  t.equal(cert.issuer, ca.subject);
  t.equal(cert.subject, '');
  t.equal(cert.notBefore.getTime(), notBefore.getTime());
  t.equal(cert.notAfter.getTime(), notBefore.getTime() + 3_600_000);
  t.equal(Buffer.from(cert.publicKey.rawData).toString('hex'), spki.toString('hex'));
  t.ok(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }), 'signed by the CA key');
  const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
  t.same([bc.critical, bc.ca], [true, false]);
  const ku = cert.getExtension(x509.KeyUsagesExtension)!;
  t.same([ku.critical, ku.usages], [true, x509.KeyUsageFlags.digitalSignature]);
  t.same(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages, [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
  t.equal(san.critical, true);
  t.same(san.names.toJSON(), [{ type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }]);
  t.equal(cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, ca.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
  t.equal(cert.extensions.length, 5, 'nothing else');

  const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });
  const rsa = issueWorkloadCertificate(authority, { spki: rsaKey, key: { type: 'rsa', bits: 2048 }, identity: { trustDomain: 'cluster.local', namespace: 'a', serviceAccount: 'b' }, notBefore, notAfter: new Date(notBefore.getTime() + 3_600_000) });
  t.match(await opensslText(rsa.certPem), /X509v3 Key Usage: critical\n\s*Digital Signature, Key Encipherment/);
});

t.test('dates from 2050 on are GeneralizedTime', async (t) => {
  const root = await createCa({ commonName: 'long root', validity: { notBefore: new Date(Date.now() - 60_000), notAfter: new Date('2060-01-01T00:00:00Z') } });
  const authority = await loadAuthority({ caCert: root.certPem, caKey: root.keyPem, certChain: root.certPem, rootCert: root.certPem }, where('long'));
  const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
  const issued = issueWorkloadCertificate(authority, { spki, key: { type: 'ec', curve: 'P-256' }, identity: { trustDomain: 'cluster.local', namespace: 'a', serviceAccount: 'b' }, notBefore: new Date('2049-12-31T23:00:00Z'), notAfter: new Date('2051-06-01T12:00:00Z') });
  t.equal(new X509Certificate(issued.certPem).validTo, 'Jun  1 12:00:00 2051 GMT');
  t.equal(new X509Certificate(issued.certPem).validFrom, 'Dec 31 23:00:00 2049 GMT');
  const text = await opensslText(issued.certPem);
  t.match(text, /Not After : Jun  1 12:00:00 2051 GMT/);
  const dir = await mkdtemp(join(tmpdir(), 'tandem-der-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'c.pem'), issued.certPem);
  const asn1 = (await run('openssl', ['asn1parse', '-in', join(dir, 'c.pem')])).stdout;
  t.match(asn1, /UTCTIME\s+:491231230000Z/);
  t.match(asn1, /GENERALIZEDTIME\s+:20510601120000Z/);
});
