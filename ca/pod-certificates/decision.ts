import { createPublicKey, verify } from 'node:crypto';
import { isObject } from '../../common/objects.js';
import { keyTypeProblem, lifetimeFor, type Lifetime } from '../policy.js';
import { describePublicKey, keyLabel, type PublicKeyInfo } from '../public-key.js';
import { identityProblem, type WorkloadIdentity } from '../spiffe.js';

/**
 * What the signer does with one PodCertificateRequest (certificates.k8s.io/v1beta1, KEP-4317), pure:
 * skip it (another signer's, or already answered), deny it (the API's Denied condition, with a
 * reason), or issue for the pod's namespace and service account within maxExpirationSeconds.
 */
export const SIGNER_NAME = 'tandem.io/workload-identity';
/** The label the injector puts on meshed pods; the signer serves only those (see `decide`). */
export const MESH_LABEL = 'security.istio.io/tlsMode';
/** The API's default when maxExpirationSeconds is omitted (24 h). */
export const DEFAULT_MAX_EXPIRATION_SECONDS = 86_400;

export interface PcrSpec {
  signerName: string;
  podName: string;
  podUID: string;
  serviceAccountName: string;
  serviceAccountUID: string;
  nodeName: string;
  nodeUID: string;
  maxExpirationSeconds?: number;
  /** base64 DER SubjectPublicKeyInfo, as the JSON API carries []byte */
  pkixPublicKey: string;
  /** base64 signature over the pod UID's ASCII bytes */
  proofOfPossession: string;
}

export interface PcrObject {
  metadata: { name: string; namespace: string; resourceVersion?: string; uid?: string };
  spec: PcrSpec;
  status?: { certificateChain?: string; conditions?: { type: string; status: string; reason?: string }[] };
}

/** The facts of the pod the request names, as read from the apiserver (undefined: no such pod). */
export interface PodFacts {
  uid: string;
  serviceAccountName: string;
  labels: Record<string, string>;
  deleting: boolean;
}

export type Decision =
  | { action: 'skip'; why: string }
  | { action: 'deny'; reason: string; message: string }
  | { action: 'issue'; identity: WorkloadIdentity; key: PublicKeyInfo; spki: Buffer; lifetime: Lifetime };

/** A request object from the watch, checked for the fields the decision reads (anything else is skipped). */
export function asPcr(obj: unknown): PcrObject | undefined {
  if (!isObject(obj) || !isObject(obj['metadata']) || !isObject(obj['spec'])) return undefined;
  const m = obj['metadata'];
  const s = obj['spec'];
  const strings = ['signerName', 'podName', 'podUID', 'serviceAccountName', 'pkixPublicKey', 'proofOfPossession'];
  if (typeof m['name'] !== 'string' || typeof m['namespace'] !== 'string' || strings.some((k) => typeof s[k] !== 'string')) return undefined;
  return obj as unknown as PcrObject;
}

/** Whether the request was already answered: the status is written once (the API makes it immutable). */
export function answered(pcr: PcrObject): boolean {
  return (pcr.status?.certificateChain ?? '') !== '' || (pcr.status?.conditions ?? []).some((c) => ['Issued', 'Denied', 'Failed'].includes(c.type) && c.status === 'True');
}

/**
 * Verifies the proof of possession as kube-apiserver does at creation: ECDSA signs the SHA-256 of
 * the pod UID's ASCII bytes (ASN.1 DER signature, Go's ecdsa.SignASN1), RSA signs it with
 * RSASSA-PSS (Go's rsa.SignPSS, SHA-256, salt length auto: accepted whatever the salt), Ed25519 the bytes.
 */
export function proofOfPossessionValid(spki: Buffer, podUID: string, proof: Buffer): boolean {
  try {
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const data = Buffer.from(podUID, 'ascii');
    if (key.asymmetricKeyType === 'ec') return verify('sha256', data, { key, dsaEncoding: 'der' }, proof);
    if (key.asymmetricKeyType === 'rsa') return verify('sha256', data, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -2 /* RSA_PSS_SALTLEN_AUTO */ }, proof);
    if (key.asymmetricKeyType === 'ed25519') return verify(null, data, key, proof);
    return false;
  } catch {
    return false;
  }
}

export interface DecideOptions {
  trustDomain: string;
  /** lifetime tandem gives when the request allows more (24 h) */
  defaultTtlMs: number;
  now: Date;
}

/**
 * Mesh membership is the `security.istio.io/tlsMode: istio` label the injector adds (the same label
 * auto mTLS keys on): a pod without it gets no mesh identity, so a pod cannot obtain a mesh
 * certificate merely by mounting a podCertificate volume for this signer.
 */
export function decide(pcr: PcrObject, pod: PodFacts | undefined, opts: DecideOptions): Decision {
  const s = pcr.spec;
  if (s.signerName !== SIGNER_NAME) return { action: 'skip', why: `signer ${s.signerName}` };
  if (answered(pcr)) return { action: 'skip', why: 'already answered' };
  if (!pod || pod.uid !== s.podUID) return { action: 'deny', reason: 'PodNotFound', message: `pod ${pcr.metadata.namespace}/${s.podName} with UID ${s.podUID} does not exist` };
  if (pod.deleting) return { action: 'deny', reason: 'PodTerminating', message: `pod ${pcr.metadata.namespace}/${s.podName} is being deleted` };
  if (pod.serviceAccountName !== s.serviceAccountName) return { action: 'deny', reason: 'ServiceAccountMismatch', message: `pod ${pcr.metadata.namespace}/${s.podName} runs as ${pod.serviceAccountName}, not ${s.serviceAccountName}` };
  if (pod.labels[MESH_LABEL] !== 'istio') return { action: 'deny', reason: 'NotInMesh', message: `pod ${pcr.metadata.namespace}/${s.podName} is not in the mesh (no ${MESH_LABEL}: istio label; is sidecar injection enabled?)` };
  const identity: WorkloadIdentity = { trustDomain: opts.trustDomain, namespace: pcr.metadata.namespace, serviceAccount: s.serviceAccountName };
  const idProblem = identityProblem(identity);
  if (idProblem) return { action: 'deny', reason: 'InvalidIdentity', message: idProblem };

  const spki = Buffer.from(s.pkixPublicKey, 'base64');
  let key: PublicKeyInfo;
  try {
    key = describePublicKey(spki);
  } catch (err) {
    return { action: 'deny', reason: 'InvalidPublicKey', message: `pkixPublicKey does not parse: ${(err as Error).message}` };
  }
  const keyProblem = keyTypeProblem(key);
  if (keyProblem) return { action: 'deny', reason: 'UnsupportedKeyType', message: `${keyLabel(key)}: ${keyProblem}` };
  if (!proofOfPossessionValid(spki, s.podUID, Buffer.from(s.proofOfPossession, 'base64'))) {
    return { action: 'deny', reason: 'InvalidProofOfPossession', message: 'proofOfPossession is not a signature of the pod UID by pkixPublicKey' };
  }
  const maxMs = (s.maxExpirationSeconds ?? DEFAULT_MAX_EXPIRATION_SECONDS) * 1000;
  return { action: 'issue', identity, key, spki, lifetime: lifetimeFor(undefined, opts.defaultTtlMs, maxMs, opts.now) };
}

/** Kubernetes times: RFC 3339, seconds. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The kubelet's hint to refresh: half-way through the lifetime (whole seconds). */
export function beginRefreshAt(lifetime: Lifetime): Date {
  const half = Math.floor((lifetime.notAfter.getTime() - lifetime.notBefore.getTime()) / 2000) * 1000;
  return new Date(lifetime.notBefore.getTime() + half);
}

export function condition(type: 'Issued' | 'Denied' | 'Failed', reason: string, message: string, now: Date): Record<string, string> {
  return { type, status: 'True', reason, message, lastTransitionTime: rfc3339(now) };
}
