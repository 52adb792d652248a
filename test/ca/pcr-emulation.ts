/**
 * The PodCertificateRequest side of the EMULATED apiserver (test/control-plane/k8s-emulator.ts; no
 * kube-apiserver runs here): the collection with its /status subresource, every write checked
 * against the strict schema in ./schemas, plus the status rules kube-apiserver enforces
 * (pkg/apis/certificates/validation, ValidatePCRStatusUpdate): the status is written once and is
 * immutable afterwards; certificateChain holds PEM CERTIFICATE blocks only, the first the leaf;
 * notBefore and notAfter equal the leaf's; beginRefreshAt lies in [notBefore + 10 min, notAfter - 10
 * min]; the lifetime is at most spec.maxExpirationSeconds; Denied and Failed are exclusive.
 */
import { createRequire } from 'node:module';
import { createPublicKey, generateKeyPairSync, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { Ajv } from 'ajv';
import { EmulatedApiServer } from '../control-plane/k8s-emulator.js';

const require = createRequire(import.meta.url);
const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
const validatePcr = ajv.compile(require('./schemas/podcertificaterequest-certificates-v1beta1.json') as object);

export const PCRS = '/apis/certificates.k8s.io/v1beta1/podcertificaterequests';
export const PODS = '/api/v1/pods';

type Obj = Record<string, any>;

function statusRules(obj: Obj, old: Obj | undefined): string | undefined {
  const s = obj['status'] as Obj | undefined;
  const o = old?.['status'] as Obj | undefined;
  if (o && (o['certificateChain'] || o['notBefore'] || o['notAfter'] || o['beginRefreshAt'])) {
    for (const k of ['certificateChain', 'notBefore', 'notAfter', 'beginRefreshAt']) if (s?.[k] !== o[k]) return `status.${k}: field is immutable`;
  }
  const types = ((s?.['conditions'] ?? []) as Obj[]).map((c) => c['type']);
  if (types.includes('Denied') && types.includes('Failed')) return 'status.conditions: Denied and Failed are mutually exclusive';
  if (!s?.['certificateChain'] || (o && o['certificateChain'])) return undefined;
  const blocks = String(s['certificateChain']).match(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g) ?? [];
  if (blocks.length === 0) return 'status.certificateChain: does not contain at least one CERTIFICATE block';
  if (blocks.some((b) => !b.startsWith('-----BEGIN CERTIFICATE-----'))) return 'status.certificateChain: contains non-CERTIFICATE block';
  const leaf = new X509Certificate(blocks[0]!);
  const nb = Date.parse(leaf.validFrom);
  const na = Date.parse(leaf.validTo);
  if (Date.parse(s['notBefore']) !== nb) return 'status.notBefore: not consistent with leaf certificate';
  if (Date.parse(s['notAfter']) !== na) return 'status.notAfter: not consistent with leaf certificate';
  const refresh = Date.parse(s['beginRefreshAt']);
  if (!(refresh >= nb + 600_000)) return 'status.beginRefreshAt: too early';
  if (!(refresh <= na - 600_000)) return 'status.beginRefreshAt: too late';
  if (na - nb > (obj['spec']?.['maxExpirationSeconds'] ?? 86_400) * 1000) return 'status.certificateChain: issued certificate has longer lifetime than permitted by spec.maxExpirationSeconds';
  return undefined;
}

export function addPcrCollections(api: EmulatedApiServer): void {
  api.addCollection(PCRS, 'PodCertificateRequest', 'certificates.k8s.io/v1beta1', {
    plural: 'podcertificaterequests',
    namespaced: true,
    status: true,
    validate: (obj, old) => (validatePcr(obj) ? statusRules(obj, old) : `PodCertificateRequest: ${ajv.errorsText(validatePcr.errors)}`),
  });
  api.addCollection(PODS, 'Pod', 'v1', { plural: 'pods', namespaced: true });
}

export type KubeletKey = 'p256' | 'p384' | 'p521' | 'ed25519' | 'rsa3072';

export function kubeletKey(kind: KubeletKey): KeyObject {
  switch (kind) {
    case 'p256': return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'p384': return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    case 'p521': return generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
    case 'ed25519': return generateKeyPairSync('ed25519').privateKey;
    case 'rsa3072': return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  }
}

/** The proof of possession as the kubelet makes it (KEP-4317 API doc): a signature over the pod UID's ASCII bytes. */
export function proofOfPossession(key: KeyObject, podUID: string): Buffer {
  const data = Buffer.from(podUID, 'ascii');
  if (key.asymmetricKeyType === 'ed25519') return sign(null, data, key);
  if (key.asymmetricKeyType === 'rsa') return sign('sha256', data, { key, padding: 6, saltLength: 32 });
  return sign('sha256', data, { key, dsaEncoding: 'der' });
}

export interface PodSeed {
  namespace: string;
  name: string;
  serviceAccount: string;
  meshed: boolean;
  uid?: string;
}

/** Stores a pod as the apiserver would hold it after injection (or without, `meshed: false`). */
export function seedPod(api: EmulatedApiServer, p: PodSeed): string {
  const uid = p.uid ?? randomUUID();
  api.apply(PODS, 'ADDED', {
    metadata: { name: p.name, namespace: p.namespace, uid, labels: { app: p.name, ...(p.meshed ? { 'security.istio.io/tlsMode': 'istio' } : {}) } },
    spec: { serviceAccountName: p.serviceAccount, nodeName: 'node-1', containers: [{ name: 'app', image: 'app' }] },
  });
  return uid;
}

/** A PodCertificateRequest as the kubelet creates it for a pod's podCertificate volume. */
export function pcrFor(opts: { namespace: string; name: string; podName: string; podUID: string; serviceAccount: string; key: KeyObject; signerName?: string; maxExpirationSeconds?: number; proofFor?: string }): Obj {
  const pub = createPublicKey(opts.key).export({ type: 'spki', format: 'der' });
  return {
    apiVersion: 'certificates.k8s.io/v1beta1',
    kind: 'PodCertificateRequest',
    metadata: { name: opts.name, namespace: opts.namespace, uid: randomUUID() },
    spec: {
      signerName: opts.signerName ?? 'tandem.io/workload-identity',
      podName: opts.podName,
      podUID: opts.podUID,
      serviceAccountName: opts.serviceAccount,
      serviceAccountUID: randomUUID(),
      nodeName: 'node-1',
      nodeUID: randomUUID(),
      maxExpirationSeconds: opts.maxExpirationSeconds ?? 86_400,
      pkixPublicKey: pub.toString('base64'),
      proofOfPossession: proofOfPossession(opts.key, opts.proofFor ?? opts.podUID).toString('base64'),
    },
  };
}
