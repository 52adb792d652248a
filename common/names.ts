/**
 * Kubernetes name and port rules, written once (apimachinery's validation):
 * DNS-1123 label (namespaces, container and volume names), DNS-1123 subdomain (most object names),
 * DNS-1035 label (Service names), and TCP/UDP port numbers.
 */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDns1035Label(s: string): boolean {
  return s.length <= 63 && DNS1035_LABEL.test(s);
}

export function isDns1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && s.split('.').every((l) => DNS1123_LABEL.test(l));
}

/** A port number 1-65535; strings must be plain decimal digits (no sign, no leading zeros, no spaces). */
export function isPort(p: number | string): boolean {
  const n = typeof p === 'number' ? p : /^[1-9][0-9]{0,4}$/.test(p) ? Number(p) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** The namespace tandem runs in unless told otherwise (`--namespace`, $POD_NAMESPACE). */
export const DEFAULT_NAMESPACE = 'tandem-system';
