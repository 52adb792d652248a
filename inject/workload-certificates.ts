import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE, WORKLOAD_CREDENTIALS_DIR, WORKLOAD_CERTS_VOLUME } from '../bootstrap/workload-credentials.js';
import { SIGNER_NAME } from '../ca/pod-certificates/decision.js';
import { ROOT_CERT_KEY, ROOT_CONFIGMAP } from '../ca/root-distribution/configmap.js';
import type { InjectorConfig } from './config.js';

/**
 * The workload certificate as the injector delivers it (pure): one projected volume the kubelet
 * fills with no agent in the pod, a key it generates and the chain tandem's signer issues
 * (podCertificate source, KEP-4317) next to the mesh roots (Istio's istio-ca-root-cert ConfigMap),
 * mounted read-only where Istio mounts file credentials. One volume, so that the kubelet's atomic
 * `..data` swap moves key, chain and roots together.
 */

/** Envoy can use P-256; it is also the CA's default workload key (ca/policy.ts). */
export const POD_CERTIFICATE_KEY_TYPE = 'ECDSAP256';

export function workloadCertificatesOn(c: Pick<InjectorConfig, 'workloadCertificates'>): boolean {
  return c.workloadCertificates === 'podCertificate';
}

export function workloadCertsVolume(c: Pick<InjectorConfig, 'podCertificate'>): V1Volume {
  return {
    name: WORKLOAD_CERTS_VOLUME,
    projected: {
      sources: [
        {
          podCertificate: {
            signerName: SIGNER_NAME,
            keyType: POD_CERTIFICATE_KEY_TYPE,
            maxExpirationSeconds: c.podCertificate.maxExpirationSeconds,
            keyPath: KEY_FILE,
            certificateChainPath: CERT_CHAIN_FILE,
          },
        },
        { configMap: { name: ROOT_CONFIGMAP, items: [{ key: ROOT_CERT_KEY, path: ROOT_CERT_FILE }] } },
      ],
    },
  };
}

export function workloadCertsMount(): V1VolumeMount {
  return { name: WORKLOAD_CERTS_VOLUME, mountPath: WORKLOAD_CREDENTIALS_DIR, readOnly: true };
}
