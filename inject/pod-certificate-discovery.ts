import { ApiException, CertificatesV1beta1Api, type KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../common/errors.js';

/**
 * How tandem learns whether to deliver workload certificates by default: API discovery once at
 * start (`GET /apis/certificates.k8s.io/v1beta1`), asked only when the injector config leaves
 * `workloadCertificates` unset. The group version missing (404), or present without
 * `podcertificaterequests` (the PodCertificateRequest feature gate off), means `none`. A cluster
 * that starts serving the API later is picked up at the next restart; set the field to decide
 * without asking. Any other failure stops the start, naming the way out, rather than guessing.
 */
export const POD_CERTIFICATE_GROUP_VERSION = 'certificates.k8s.io/v1beta1';
export const POD_CERTIFICATE_RESOURCE = 'podcertificaterequests';

export async function servesPodCertificates(kc: KubeConfig): Promise<boolean> {
  try {
    const list = await kc.makeApiClient(CertificatesV1beta1Api).getAPIResources();
    return list.resources.some((r) => r.name === POD_CERTIFICATE_RESOURCE);
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return false;
    const why = err instanceof ApiException ? `HTTP ${err.code}` : (err as Error).message;
    throw new UserError(`cannot tell whether the cluster serves ${POD_CERTIFICATE_GROUP_VERSION} PodCertificateRequest (API discovery: ${why}): set workloadCertificates (podCertificate or none) in the injector config`);
  }
}
