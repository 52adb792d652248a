import { isDns1123Label, isDns1123Subdomain } from '../common/names.js';

/** A workload identity: Istio's SPIFFE form `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`. */
export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export function spiffeId(id: WorkloadIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Why an identity cannot be issued for, or undefined when every part is a valid name. */
export function identityProblem(id: WorkloadIdentity): string | undefined {
  if (!isDns1123Subdomain(id.trustDomain)) return `trust domain "${id.trustDomain}" is not a DNS name`;
  if (!isDns1123Label(id.namespace)) return `namespace "${id.namespace}" is not a DNS-1123 label`;
  if (!isDns1123Subdomain(id.serviceAccount)) return `service account "${id.serviceAccount}" is not a DNS-1123 subdomain`;
  return undefined;
}

const SA_USERNAME = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** `system:serviceaccount:<ns>:<sa>` (the TokenReview username and a token's `sub`) -> namespace and name. */
export function parseServiceAccountUsername(username: string): { namespace: string; serviceAccount: string } | undefined {
  const m = SA_USERNAME.exec(username);
  return m ? { namespace: m[1]!, serviceAccount: m[2]! } : undefined;
}
