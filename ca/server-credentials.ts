import { webcrypto } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';
// first: sets the Reflect metadata API and the crypto provider @peculiar/x509 needs at load
import '../certs/x509.js';
import * as x509 from '@peculiar/x509';
import type { Authority } from './authority.js';
import { joinPem } from './pem.js';
import { BACKDATE_MS } from './policy.js';
import { randomSerial } from './sign.js';

/** The names the control plane's 15012 certificate is valid for (design.md, port map). */
export const XDS_SERVER_DNS_NAMES = ['tandem-xds.tandem-system.svc', 'tandem-xds.tandem-system.svc.cluster.local', 'localhost'];
export const XDS_SERVER_IPS = ['127.0.0.1'];
/** Renewed in-process at half-life (startServerCertificate), so a long-running control plane never serves an expired one. */
export const SERVER_CERT_TTL_MS = 30 * 24 * 3_600_000;

export interface ServerCertificate {
  /** the leaf and the intermediates up to (not including) the root */
  chainPem: string;
  keyPem: string;
  rootsPem: string;
  notAfter: Date;
}

/** A serving certificate issued by the mesh CA (ECDSA P-256, serverAuth) for the control plane's TLS port. */
export async function issueServerCertificate(
  authority: Authority,
  opts: { dnsNames?: string[]; ips?: string[]; ttlMs?: number; now?: Date } = {},
): Promise<ServerCertificate> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const dnsNames = opts.dnsNames ?? XDS_SERVER_DNS_NAMES;
  const ips = opts.ips ?? XDS_SERVER_IPS;
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(Math.min(now.getTime() + (opts.ttlMs ?? SERVER_CERT_TTL_MS), Date.parse(authority.caCert.validTo)));
  const ca = new x509.X509Certificate(authority.caCertPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${dnsNames[0] ?? ips[0] ?? 'tandem-xds'}`,
    issuer: new x509.Name(ca.subjectName.toArrayBuffer()),
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: authority.signingKey,
    signingAlgorithm: authority.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  const intermediates = authority.chainPems.slice(0, -1);
  return {
    chainPem: joinPem([cert.toString('pem'), ...intermediates]),
    keyPem: x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') + '\n',
    rootsPem: authority.rootsPem,
    notAfter,
  };
}

/**
 * gRPC server credentials for 15012: the serving certificate above. Client certificates are
 * optional here (CA API callers have none yet; they authenticate with their token), but when a
 * client presents one it must chain to the mesh roots.
 */
export async function secureServerCredentials(authority: Authority, opts: Parameters<typeof issueServerCertificate>[1] = {}): Promise<{ credentials: ServerCredentials; certificate: ServerCertificate }> {
  const certificate = await issueServerCertificate(authority, opts);
  const credentials = ServerCredentials.createSsl(Buffer.from(certificate.rootsPem), [{ private_key: Buffer.from(certificate.keyPem), cert_chain: Buffer.from(certificate.chainPem) }], false);
  return { credentials, certificate };
}

function contextOf(c: ServerCertificate): SecureContextOptions {
  return { ca: Buffer.from(c.rootsPem), cert: Buffer.from(c.chainPem), key: Buffer.from(c.keyPem) };
}

/**
 * Server credentials whose certificate can be replaced while the server runs. grpc-js 1.14's
 * ServerCredentials keeps watchers (one per bound port) that call the HTTP/2 server's
 * `setSecureContext` on each update: later handshakes get the new certificate, open connections
 * keep theirs. `createSsl` offers no update; the exported certificate-provider credentials
 * (`experimental.createCertificateProviderServerCredentials`) would also request client
 * certificates, which 15012 does not (same options as `createSsl(…, false)` here).
 */
class ReplaceableServerCredentials extends ServerCredentials {
  constructor(first: ServerCertificate) {
    super({ requestCert: false }, contextOf(first));
  }

  replace(next: ServerCertificate): void {
    this.updateSecureContextOptions(contextOf(next));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

export interface RenewingServerCertificate {
  credentials: ServerCredentials;
  /** the certificate new handshakes get */
  current(): ServerCertificate;
  stop(): void;
}

/** Node's timers overflow past 2^31-1 ms (about 24.8 days): longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A failed renewal is retried this often (bounded by the remaining lifetime). */
const RETRY_MS = 60_000;

/** When to renew: half the remaining lifetime from `issuedAt`, as the workload certificates (beginRefreshAt). */
export function renewalDelayMs(issuedAt: number, notAfter: Date): number {
  return Math.max(0, Math.floor((notAfter.getTime() - issuedAt) / 2));
}

/**
 * The 15012 serving certificate, issued now and renewed in-process at each half-life without
 * restarting the server. A failed renewal keeps the current certificate (still valid for the
 * other half) and retries; `onRenew`/`onError` report for logs.
 */
export async function startServerCertificate(
  authority: () => Authority,
  opts: Parameters<typeof issueServerCertificate>[1] & { onRenew?: (c: ServerCertificate) => void; onError?: (err: unknown) => void } = {},
): Promise<RenewingServerCertificate> {
  const issue = (): Promise<ServerCertificate> => issueServerCertificate(authority(), { ...opts, now: new Date() });
  let current = await issue();
  const credentials = new ReplaceableServerCredentials(current);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const at = (when: number): void => {
    if (stopped) return;
    const delay = Math.max(0, when - Date.now());
    timer = delay > MAX_TIMER_MS ? setTimeout(() => at(when), MAX_TIMER_MS) : setTimeout(() => void renew(), delay);
    timer.unref();
  };
  const renew = async (): Promise<void> => {
    try {
      const next = await issue();
      if (stopped) return;
      current = next;
      credentials.replace(next);
      opts.onRenew?.(next);
      at(Date.now() + renewalDelayMs(Date.now(), next.notAfter));
    } catch (err) {
      opts.onError?.(err);
      at(Date.now() + Math.min(RETRY_MS, Math.max(1_000, (current.notAfter.getTime() - Date.now()) / 10)));
    }
  };
  at(Date.now() + renewalDelayMs(Date.now(), current.notAfter));
  return {
    credentials,
    current: () => current,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
