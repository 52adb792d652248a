import { CoreV1Api, KubernetesObjectApi, ApiException, makeInformer, type KubeConfig, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../../common/logger.js';
import type { Authority } from '../authority.js';
import { kubeRequest } from '../kube-rest.js';
import { joinPem } from '../pem.js';
import { DEFAULT_WORKLOAD_TTL_MS } from '../policy.js';
import { issueWorkloadCertificate } from '../sign.js';
import { DEFAULT_TRUST_DOMAIN, spiffeId } from '../spiffe.js';
import { WorkQueue } from '../work-queue.js';
import { answered, asPcr, beginRefreshAt, condition, decide, rfc3339, SIGNER_NAME, type PcrObject, type PodFacts } from './decision.js';

export const PCR_API_VERSION = 'certificates.k8s.io/v1beta1';
export const PCR_KIND = 'PodCertificateRequest';
const PCR_LIST_PATH = `/apis/${PCR_API_VERSION}/podcertificaterequests`;

export interface PodCertificateSignerOptions {
  kubeConfig: KubeConfig;
  authority: () => Authority;
  trustDomain?: string;
  defaultTtlMs?: number;
  logger?: Logger;
  now?: () => Date;
}

export interface PodCertificateSigner {
  /** resolves once the first list has been processed into the queue */
  synced: Promise<void>;
  /** resolves when no request is waiting or in flight (tests) */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

function podFacts(pod: V1Pod): PodFacts {
  return {
    uid: pod.metadata?.uid ?? '',
    serviceAccountName: pod.spec?.serviceAccountName ?? 'default',
    labels: pod.metadata?.labels ?? {},
    deleting: pod.metadata?.deletionTimestamp !== undefined,
  };
}

/**
 * The signer `tandem.io/workload-identity` (KEP-4317): watches PodCertificateRequests (through
 * client-node's generic object API; it has no typed client for certificates.k8s.io/v1beta1), decides
 * each one for its signer ({@link decide}), and answers once through `/status`: the chain (leaf and
 * intermediates; the root reaches pods through the istio-ca-root-cert ConfigMap), notBefore,
 * beginRefreshAt (half-life) and notAfter with an Issued condition, or a Denied condition with a
 * reason. The write carries the resourceVersion it decided on: on 409 the request is re-read and
 * decided again, so two replicas never both answer. The private key never leaves the node.
 */
export function startPodCertificateSigner(opts: PodCertificateSignerOptions): PodCertificateSigner {
  const logger = opts.logger ?? silentLogger;
  const objects = KubernetesObjectApi.makeApiClient(opts.kubeConfig);
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const now = opts.now ?? ((): Date => new Date());

  const informer = makeInformer<KubernetesObject>(opts.kubeConfig, PCR_LIST_PATH, () => objects.list<KubernetesObject>(PCR_API_VERSION, PCR_KIND));
  const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace}/${o.metadata?.name}`;

  async function readPcr(namespace: string, name: string): Promise<PcrObject | undefined> {
    try {
      return asPcr(await objects.read({ apiVersion: PCR_API_VERSION, kind: PCR_KIND, metadata: { name, namespace } }));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async function readPod(namespace: string, name: string): Promise<PodFacts | undefined> {
    try {
      return podFacts(await core.readNamespacedPod({ name, namespace }));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async function writeStatus(pcr: PcrObject, status: Record<string, unknown>): Promise<'written' | 'conflict' | 'gone'> {
    const { namespace, name } = pcr.metadata;
    const body = { apiVersion: PCR_API_VERSION, kind: PCR_KIND, metadata: pcr.metadata, spec: pcr.spec, status };
    const r = await kubeRequest(opts.kubeConfig, 'PUT', `/apis/${PCR_API_VERSION}/namespaces/${namespace}/podcertificaterequests/${name}/status`, body);
    if (r.status === 200 || r.status === 201) return 'written';
    if (r.status === 409) return 'conflict';
    if (r.status === 404) return 'gone';
    const message = typeof r.body === 'object' && r.body !== null && 'message' in r.body ? String((r.body as { message: unknown }).message) : String(r.body);
    throw new Error(`PUT status of PodCertificateRequest ${namespace}/${name}: HTTP ${r.status}: ${message}`);
  }

  async function handle(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    for (let attempt = 0; attempt < 3; attempt++) {
      const pcr = await readPcr(namespace, name);
      if (!pcr || pcr.spec.signerName !== SIGNER_NAME || answered(pcr)) return;
      const at = now();
      const d = decide(pcr, await readPod(namespace, pcr.spec.podName), { trustDomain: opts.trustDomain ?? DEFAULT_TRUST_DOMAIN, defaultTtlMs: opts.defaultTtlMs ?? DEFAULT_WORKLOAD_TTL_MS, now: at });
      let status: Record<string, unknown>;
      if (d.action === 'skip') return;
      if (d.action === 'deny') {
        status = { conditions: [condition('Denied', d.reason, d.message, at)] };
      } else {
        let issued;
        try {
          issued = issueWorkloadCertificate(opts.authority(), { spki: d.spki, key: d.key, identity: d.identity, notBefore: d.lifetime.notBefore, notAfter: d.lifetime.notAfter });
        } catch (err) {
          // A CA that cannot sign is loud (error log) and the request fails; the kubelet asks again later.
          logger.error({ pcr: key, err: (err as Error).message }, 'signing failed');
          status = { conditions: [condition('Failed', 'SignerError', 'the mesh CA could not sign; see the control plane logs', at)] };
          const w = await writeStatus(pcr, status);
          if (w === 'conflict') continue;
          return;
        }
        const lifetime = { notBefore: issued.notBefore, notAfter: issued.notAfter };
        status = {
          certificateChain: joinPem(issued.chain.slice(0, -1)),
          notBefore: rfc3339(issued.notBefore),
          beginRefreshAt: rfc3339(beginRefreshAt(lifetime)),
          notAfter: rfc3339(issued.notAfter),
          conditions: [condition('Issued', 'Issued', `issued ${spiffeId(d.identity)}`, at)],
        };
      }
      const w = await writeStatus(pcr, status);
      if (w === 'conflict') continue; // changed meanwhile (another replica answered?): decide again on the fresh object
      if (w === 'written') {
        if (d.action === 'deny') logger.warn({ pcr: key, reason: d.reason, message: d.message }, 'denied pod certificate request');
        else logger.info({ pcr: key, spiffeId: spiffeId(d.identity), notAfter: d.lifetime.notAfter.toISOString() }, 'issued pod certificate');
      }
      return;
    }
    throw new Error(`PodCertificateRequest ${key}: still conflicting after 3 attempts`);
  }

  const queue = new WorkQueue(handle, { concurrency: 4, logger, name: 'pod-certificates' });
  const enqueue = (o: KubernetesObject): void => {
    const pcr = asPcr(o);
    if (pcr && pcr.spec.signerName === SIGNER_NAME && !answered(pcr)) queue.add(keyOf(o));
  };
  informer.on('add', enqueue);
  informer.on('update', enqueue);
  informer.on('error', (err: unknown) => {
    logger.warn({ err: (err as Error)?.message ?? String(err) }, 'PodCertificateRequest watch failed; restarting');
    setTimeout(() => void informer.start().catch(() => undefined), 1000).unref();
  });
  const synced = informer.start();
  return {
    synced,
    idle: () => queue.idle(),
    async stop() {
      queue.stop();
      await informer.stop();
    },
  };
}
