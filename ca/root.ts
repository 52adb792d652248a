import { createCa, validityFor } from '../certs/x509.js';
import type { PluginPems } from './authority.js';

/** Istio's self-signed root lives ten years. */
export const ROOT_VALIDITY_DAYS = 3650;

/** A fresh self-signed mesh root in the plug-in layout (the root signs workloads directly). */
export async function createSelfSignedRoot(opts: { trustDomain?: string; days?: number; now?: Date } = {}): Promise<PluginPems> {
  const root = await createCa({
    commonName: `tandem mesh root CA (${opts.trustDomain ?? 'cluster.local'})`,
    validity: validityFor(opts.days ?? ROOT_VALIDITY_DAYS, opts.now),
  });
  return { caCert: root.certPem, caKey: root.keyPem, certChain: root.certPem, rootCert: root.certPem };
}
