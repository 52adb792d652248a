import { ApiException, CoreV1Api, ListWatch, Watch, type KubeConfig, type KubernetesListObject, type V1ConfigMap, type V1Namespace } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../../common/logger.js';
import { WorkQueue } from '../work-queue.js';
import { desiredConfigMap, isMeshNamespace, restoredConfigMap, ROOT_CONFIGMAP } from './configmap.js';
import { initialTrust, nextTrustChange, rotateTrust, trustBundle, type TrustState } from './trust.js';

export interface RootDistributionOptions {
  kubeConfig: KubeConfig;
  /** the CA's roots (PEM bundle) at start */
  rootsPem: string;
  logger?: Logger;
  now?: () => Date;
}

export interface RootDistribution {
  synced: Promise<void>;
  /** the CA's roots changed (a rotation): distribute the new ones, keeping the old ones until they expire */
  setRoots(rootsPem: string): void;
  /** the bundle distributed now */
  bundle(): string;
  /** re-checks every namespace (also done when a previous root expires) */
  resync(): void;
  idle(): Promise<void>;
  stop(): Promise<void>;
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/**
 * Keeps ConfigMap istio-ca-root-cert (root-cert.pem) in every mesh namespace, as Istio's namespace
 * controller does: created when a namespace appears, recreated when deleted, restored when edited,
 * rewritten when the roots change. Two informers feed one queue keyed by namespace; each
 * reconcile reads the ConfigMap and creates it or replaces it conditionally (resourceVersion), a
 * conflict being retried by the queue. The ConfigMap watch is narrowed to the one name by a field
 * selector, so the controller does not cache every ConfigMap of the cluster.
 */
export function startRootDistribution(opts: RootDistributionOptions): RootDistribution {
  const logger = opts.logger ?? silentLogger;
  const now = opts.now ?? ((): Date => new Date());
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  let trust: TrustState = initialTrust(opts.rootsPem);
  let expiryTimer: NodeJS.Timeout | undefined;

  const watch = new Watch(opts.kubeConfig);
  const fieldSelector = `metadata.name=${ROOT_CONFIGMAP}`;
  const namespaces = new ListWatch<V1Namespace>('/api/v1/namespaces', watch, () => core.listNamespace() as Promise<KubernetesListObject<V1Namespace>>, false);
  const configMaps = new ListWatch<V1ConfigMap>('/api/v1/configmaps', watch, () => core.listConfigMapForAllNamespaces({ fieldSelector }) as Promise<KubernetesListObject<V1ConfigMap>>, false, undefined, fieldSelector);

  async function reconcile(namespace: string): Promise<void> {
    const ns = namespaces.get(namespace);
    if (!ns || !isMeshNamespace(ns)) return;
    const bundle = trustBundle(trust, now());
    let existing: V1ConfigMap | undefined;
    try {
      existing = await core.readNamespacedConfigMap({ name: ROOT_CONFIGMAP, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!existing) {
      await core.createNamespacedConfigMap({ namespace, body: desiredConfigMap(namespace, bundle) });
      logger.info({ namespace }, `created ConfigMap ${ROOT_CONFIGMAP}`);
      return;
    }
    const restored = restoredConfigMap(existing, bundle);
    if (!restored) return;
    await core.replaceNamespacedConfigMap({ name: ROOT_CONFIGMAP, namespace, body: restored });
    logger.info({ namespace }, `restored ConfigMap ${ROOT_CONFIGMAP}`);
  }

  const queue = new WorkQueue(reconcile, { concurrency: 4, logger, name: 'root-distribution' });
  const resync = (): void => {
    for (const ns of namespaces.list()) if (ns.metadata?.name) queue.add(ns.metadata.name);
    scheduleExpiry();
  };
  function scheduleExpiry(): void {
    if (expiryTimer) clearTimeout(expiryTimer);
    const next = nextTrustChange(trust, now());
    if (!next) return;
    // setTimeout holds at most ~24.8 days; re-arming on wake covers longer waits.
    expiryTimer = setTimeout(resync, Math.min(next.getTime() - now().getTime() + 1000, 2 ** 31 - 1));
    expiryTimer.unref();
  }

  const onNamespace = (ns: V1Namespace): void => {
    if (ns.metadata?.name) queue.add(ns.metadata.name);
  };
  const onConfigMap = (cm: V1ConfigMap): void => {
    if (cm.metadata?.name === ROOT_CONFIGMAP && cm.metadata.namespace) queue.add(cm.metadata.namespace);
  };
  namespaces.on('add', onNamespace);
  namespaces.on('update', onNamespace);
  configMaps.on('update', onConfigMap);
  configMaps.on('delete', onConfigMap);
  for (const inf of [namespaces, configMaps]) {
    inf.on('error', (err: unknown) => {
      logger.warn({ err: (err as Error)?.message ?? String(err) }, 'root distribution watch failed; restarting');
      setTimeout(() => void inf.start().catch(() => undefined), 1000).unref();
    });
  }
  const synced = Promise.all([namespaces.start(), configMaps.start()]).then(() => resync());

  return {
    synced,
    setRoots(rootsPem) {
      trust = rotateTrust(trust, rootsPem, now());
      resync();
    },
    bundle: () => trustBundle(trust, now()),
    resync,
    idle: () => queue.idle(),
    async stop() {
      if (expiryTimer) clearTimeout(expiryTimer);
      queue.stop();
      await Promise.all([namespaces.stop(), configMaps.stop()]);
    },
  };
}
