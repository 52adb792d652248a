/** The DNS names the apiserver uses to reach a webhook Service (it verifies `<svc>.<ns>.svc`). */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/** Names added with `--local`, for a webhook reached on the loopback interface. */
export const LOCAL_DNS_NAMES: readonly string[] = ['localhost'];
export const LOCAL_IPS: readonly string[] = ['127.0.0.1'];

export const DEFAULT_SERVICE = 'tandem-webhook';
export { DEFAULT_NAMESPACE } from '../common/names.js';

/** File names inside a cert dir; the same keys a kubernetes.io/tls Secret (and cert-manager) uses. */
export const CERT_FILES = {
  ca: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
} as const;
