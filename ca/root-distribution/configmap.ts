import type { V1ConfigMap, V1Namespace } from '@kubernetes/client-node';

/** Istio's names: every mesh namespace holds the roots in this ConfigMap, under this key. */
export const ROOT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';
/** The label Istio's namespace controller puts on the ConfigMap. */
export const ROOT_CONFIGMAP_LABELS = { 'istio.io/config': 'true' };
/** Namespaces Istio's namespace controller leaves alone (inject.IgnoredNamespaces); tandem's injector skips the same ones. */
export const IGNORED_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

/** Whether a namespace gets the root ConfigMap: every namespace but the system ones, unless it is being deleted. */
export function isMeshNamespace(ns: V1Namespace): boolean {
  const name = ns.metadata?.name;
  if (!name || IGNORED_NAMESPACES.has(name)) return false;
  return ns.status?.phase !== 'Terminating' && ns.metadata?.deletionTimestamp === undefined;
}

export function desiredConfigMap(namespace: string, bundlePem: string): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CONFIGMAP, namespace, labels: { ...ROOT_CONFIGMAP_LABELS } }, data: { [ROOT_CERT_KEY]: bundlePem } };
}

/**
 * The existing ConfigMap restored to what it must hold (data exactly the bundle, Istio's label),
 * keeping the rest of its metadata (resourceVersion makes the replace conditional); undefined
 * when it already holds that.
 */
export function restoredConfigMap(existing: V1ConfigMap, bundlePem: string): V1ConfigMap | undefined {
  const data = existing.data ?? {};
  const labels = existing.metadata?.labels ?? {};
  const dataOk = Object.keys(data).length === 1 && data[ROOT_CERT_KEY] === bundlePem && existing.binaryData === undefined;
  const labelsOk = Object.entries(ROOT_CONFIGMAP_LABELS).every(([k, v]) => labels[k] === v);
  if (dataOk && labelsOk) return undefined;
  const { binaryData: _dropped, ...rest } = existing;
  return { ...rest, metadata: { ...existing.metadata, labels: { ...labels, ...ROOT_CONFIGMAP_LABELS } }, data: { [ROOT_CERT_KEY]: bundlePem } };
}
