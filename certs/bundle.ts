import { X509Certificate, createPrivateKey } from 'node:crypto';
import { UserError } from '../common/errors.js';
import { inspectServingCert, type CertInfo, type ServingCert } from './inspect.js';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE, LOCAL_DNS_NAMES, LOCAL_IPS, serviceDnsNames } from './names.js';
import { createCa, issueServingCert, validityFor, type KeyAlgorithm, type PemPair } from './x509.js';

/**
 * The storage-independent core of certificate management: given what a cert dir or a Secret
 * holds, decide what to keep and issue what is missing. Files (ensure.ts) and Secrets
 * (self-managed.ts) are thin edges around it.
 */

export interface BundleOptions {
  service?: string;
  namespace?: string;
  /** also valid for localhost and 127.0.0.1 (a webhook reached on loopback) */
  local?: boolean;
  /** serving certificate lifetime in days (default 365) */
  days?: number;
  /** CA lifetime in days (default 3650, never shorter than `days`) */
  caDays?: number;
  /** renew everything even when the existing material is valid */
  force?: boolean;
  algorithm?: KeyAlgorithm;
  now?: Date;
}

/** PEM texts as stored; undefined when absent. */
export interface BundleSources {
  ca?: string;
  caKey?: string;
  cert?: string;
  key?: string;
}

/** How to name each item in messages (file paths, or Secret keys). */
export interface BundleNames {
  ca: string;
  caKey: string;
  cert: string;
  key: string;
}

export interface CertBundle {
  caPem: string;
  /** absent when the CA key is kept elsewhere (cert-manager) and nothing had to be signed */
  caKeyPem?: string;
  certPem: string;
  keyPem: string;
}

export type Issued = 'none' | 'serving' | 'ca-and-serving';

export interface ReconcileResult {
  issued: Issued;
  /** why material was (or was not) issued, for logs and the CLI */
  reason: string;
  bundle: CertBundle;
  serving: ServingCert;
}

export const DEFAULT_DAYS = 365;
export const DEFAULT_CA_DAYS = 3650;

/** A certificate is due for renewal once 2/3 of its lifetime has passed. */
export function renewalTime(info: Pick<CertInfo, 'notBefore' | 'notAfter'>): Date {
  const start = info.notBefore.getTime();
  return new Date(start + ((info.notAfter.getTime() - start) * 2) / 3);
}

/** The names (DNS, IP) a serving certificate for these options must carry. */
export function servingNames(opts: Pick<BundleOptions, 'service' | 'namespace' | 'local'>): { dnsNames: string[]; ips: string[] } {
  return {
    dnsNames: [...serviceDnsNames(opts.service ?? DEFAULT_SERVICE, opts.namespace ?? DEFAULT_NAMESPACE), ...(opts.local ? LOCAL_DNS_NAMES : [])],
    ips: opts.local ? [...LOCAL_IPS] : [],
  };
}

/** Why the CA cannot be reused to sign, or undefined when it can. */
function caProblem(ca: PemPair, names: BundleNames, serveDays: number, now: Date): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ca.certPem);
    if (!cert.checkPrivateKey(createPrivateKey(ca.keyPem))) return `${names.caKey} does not match ${names.ca}`;
  } catch (err) {
    return `CA unreadable (${(err as Error).message})`;
  }
  if (!cert.ca) return `${names.ca} is not a CA certificate`;
  // A serving certificate must not outlive the CA that the caBundle trusts.
  if (new Date(cert.validTo).getTime() < now.getTime() + serveDays * 86_400_000) return `${names.ca} expires before a new serving certificate would`;
  return undefined;
}

/** The existing serving pair when it can be kept, else why not. */
function checkServing(src: BundleSources & { ca: string }, names: BundleNames, wanted: { dnsNames: string[]; ips: string[] }, now: Date): { serving: ServingCert } | { problem: string } {
  if (src.cert === undefined || src.key === undefined) return { problem: 'no serving certificate' };
  let serving: ServingCert;
  try {
    serving = inspectServingCert(
      { certPem: src.cert, keyPem: src.key, caPem: src.ca, certFile: names.cert, keyFile: names.key, caFile: names.ca },
      { expectDnsNames: wanted.dnsNames, now },
    );
  } catch (err) {
    return { problem: (err as Error).message };
  }
  if (serving.warnings.length > 0) return { problem: serving.warnings[0]! };
  const missingIp = wanted.ips.filter((ip) => !serving.info.ips.includes(ip));
  if (missingIp.length > 0) return { problem: `${names.cert} has no SAN for ${missingIp.join(', ')}` };
  if (now.getTime() >= renewalTime(serving.info).getTime()) {
    return { problem: `${names.cert} is past 2/3 of its lifetime (expires ${serving.info.notAfter.toISOString()})` };
  }
  return { serving };
}

/**
 * Keeps valid material; re-issues a serving certificate that is invalid, lacks a requested
 * name or is due for renewal with the existing CA (so the caBundle stays the same); replaces
 * the CA only when it is missing, unusable, or `force` is set.
 */
export async function reconcileBundle(src: BundleSources, names: BundleNames, opts: BundleOptions = {}): Promise<ReconcileResult> {
  const now = opts.now ?? new Date();
  const days = opts.days ?? DEFAULT_DAYS;
  if (!(days > 0)) throw new UserError(`--days must be a positive number, got ${String(opts.days)}`);
  const caDays = Math.max(opts.caDays ?? DEFAULT_CA_DAYS, days);
  const wanted = servingNames(opts);
  const algorithm = opts.algorithm ?? 'ecdsa-p256';

  let issued: Issued = 'ca-and-serving';
  let reason = 'renewal forced';
  let ca: PemPair | undefined;
  if (!opts.force) {
    if (src.ca === undefined) {
      reason = `no CA (${names.ca})`;
    } else {
      const check = checkServing({ ...src, ca: src.ca }, names, wanted, now);
      if ('serving' in check) {
        const bundle: CertBundle = { caPem: src.ca, certPem: check.serving.certPem, keyPem: check.serving.keyPem, ...(src.caKey !== undefined ? { caKeyPem: src.caKey } : {}) };
        return { issued: 'none', reason: 'existing certificates are valid', bundle, serving: check.serving };
      }
      const caPair = src.caKey !== undefined ? { certPem: src.ca, keyPem: src.caKey } : undefined;
      const caIssue = caPair ? caProblem(caPair, names, days, now) : `${names.caKey} is missing to re-sign it`;
      if (caIssue === undefined) {
        issued = 'serving';
        reason = check.problem;
        ca = caPair;
      } else {
        reason = `${check.problem}, and ${caIssue}`;
      }
    }
  }
  ca ??= await createCa({ algorithm, validity: validityFor(caDays, now), commonName: `${opts.service ?? DEFAULT_SERVICE}.${opts.namespace ?? DEFAULT_NAMESPACE} CA` });
  const pair = await issueServingCert({ ca, ...wanted, algorithm, validity: validityFor(days, now) });
  const serving = inspectServingCert(
    { certPem: pair.certPem, keyPem: pair.keyPem, caPem: ca.certPem, certFile: names.cert, keyFile: names.key, caFile: names.ca },
    { expectDnsNames: wanted.dnsNames, now },
  );
  return { issued, reason, bundle: { caPem: ca.certPem, caKeyPem: ca.keyPem, certPem: pair.certPem, keyPem: pair.keyPem }, serving };
}
