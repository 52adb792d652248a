import { X509Certificate } from 'node:crypto';
import { joinPem, pemBlocks } from '../pem.js';

/**
 * Which roots workloads must trust, pure. During a root rotation the outgoing root stays trusted
 * until it expires: workloads still holding certificates under it keep being accepted while they
 * renew under the new one. `current` is what the CA now says (its root-cert.pem, possibly already
 * listing both roots); `previous` are roots distributed before that the CA no longer lists.
 */
export interface TrustState {
  current: string[];
  previous: string[];
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

function unexpired(pem: string, now: Date): boolean {
  return Date.parse(new X509Certificate(pem).validTo) > now.getTime();
}

export function initialTrust(rootsPem: string): TrustState {
  return { current: pemBlocks(rootsPem), previous: [] };
}

/** The state after the CA's roots became `rootsPem`: roots it dropped move to `previous` while unexpired. */
export function rotateTrust(state: TrustState, rootsPem: string, now: Date): TrustState {
  const current = pemBlocks(rootsPem);
  const keep = new Set(current.map(fingerprint));
  const previous: string[] = [];
  for (const pem of [...state.current, ...state.previous]) {
    const fp = fingerprint(pem);
    if (keep.has(fp) || !unexpired(pem, now)) continue;
    keep.add(fp);
    previous.push(pem);
  }
  return { current, previous };
}

/** The PEM bundle to distribute: current roots first, then previous ones not yet expired, no duplicates. */
export function trustBundle(state: TrustState, now: Date): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of [...state.current, ...state.previous.filter((p) => unexpired(p, now))]) {
    const fp = fingerprint(pem);
    if (seen.has(fp)) continue;
    seen.add(fp);
    out.push(pem);
  }
  return joinPem(out);
}

/** When the bundle next changes by itself (a previous root expiring), if ever. */
export function nextTrustChange(state: TrustState, now: Date): Date | undefined {
  const times = state.previous.map((p) => Date.parse(new X509Certificate(p).validTo)).filter((t) => t > now.getTime());
  return times.length > 0 ? new Date(Math.min(...times)) : undefined;
}
