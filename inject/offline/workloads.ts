import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import { workloadOf, type WorkloadRef } from '../canonical.js';
import type { Pod } from '../types.js';
import { isObject } from '../../common/objects.js';

/**
 * Where the pod template lives in each workload kind tandem injects, so that
 * offline injection and check-inject treat them all as pods.
 */
import type { KubeObject } from '../../common/documents.js';

export type { KubeObject };

/** Kinds with `spec.template`; CronJob nests it one level deeper. DeploymentConfig is OpenShift's, which Istio injects too. */
const TEMPLATE_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'DeploymentConfig'];
export const WORKLOAD_KINDS: readonly string[] = ['Pod', ...TEMPLATE_KINDS, 'CronJob'];

function obj(v: unknown): Record<string, unknown> | undefined {
  return isObject(v) ? v : undefined;
}

export interface PodSite {
  kind: string;
  name: string;
  namespace: string | undefined;
  /** The pod (for kind Pod) or the pod template, as a Pod. */
  pod: Pod;
  workload: WorkloadRef;
  /** Returns a copy of the object with the (injected) pod put back in place. */
  put: (pod: Pod) => KubeObject;
}

function metaOf(o: KubeObject): { name: string; namespace: string | undefined } {
  const m = obj(o.metadata) ?? {};
  return { name: typeof m.name === 'string' ? m.name : typeof m.generateName === 'string' ? m.generateName : '', namespace: typeof m.namespace === 'string' ? m.namespace : undefined };
}

/** The pod inside a workload object, or undefined for kinds that carry none (they pass through). */
export function podSite(o: KubeObject): PodSite | undefined {
  const kind = typeof o.kind === 'string' ? o.kind : '';
  const { name, namespace } = metaOf(o);
  if (kind === 'Pod') {
    // A bare pod may still have a controller (admission sees those): derive its workload from ownerReferences.
    return { kind, name, namespace, pod: o as Pod, workload: workloadOf(o as Pod), put: (pod) => pod as KubeObject };
  }
  let path: string[];
  if (TEMPLATE_KINDS.includes(kind)) path = ['spec', 'template'];
  else if (kind === 'CronJob') path = ['spec', 'jobTemplate', 'spec', 'template'];
  else return undefined;
  let cur: Record<string, unknown> | undefined = o;
  for (const p of path) cur = obj(cur?.[p]);
  if (!cur) return undefined;
  const template = cur as V1PodTemplateSpec;
  // A template has no namespace of its own; the workload's applies.
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...(template.metadata ?? {}) }, spec: template.spec ?? { containers: [] } };
  return {
    kind, name, namespace, pod, workload: { kind, name },
    put: (injected) => {
      const copy = structuredClone(o);
      let at: Record<string, unknown> = copy;
      for (const p of path.slice(0, -1)) at = at[p] as Record<string, unknown>;
      const key = path[path.length - 1] as string;
      at[key] = { ...(at[key] as object), metadata: injected.metadata ?? {}, spec: injected.spec };
      return copy;
    },
  };
}

/** Calls `fn` on every pod site of a document, descending into `kind: List`; returns the rewritten document. */
export function mapPods(o: KubeObject, fn: (site: PodSite) => Pod): KubeObject {
  if (o.kind === 'List' && Array.isArray(o.items)) {
    return { ...o, items: (o.items as unknown[]).map((it) => (obj(it) ? mapPods(it as KubeObject, fn) : it)) };
  }
  const site = podSite(o);
  if (!site) return o;
  const injected = fn(site);
  return injected === site.pod ? o : site.put(injected);
}

/** Every pod site of a document (List items included), in order. */
export function podSites(o: KubeObject): PodSite[] {
  const out: PodSite[] = [];
  if (o.kind === 'List' && Array.isArray(o.items)) {
    for (const it of o.items as unknown[]) if (obj(it)) out.push(...podSites(it as KubeObject));
    return out;
  }
  const s = podSite(o);
  if (s) out.push(s);
  return out;
}
