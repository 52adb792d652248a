import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { injectPod, loadInjector, type Injector } from '../../inject/injector.js';
import type { Pod } from '../../inject/types.js';
import { mapPods, type KubeObject } from '../../inject/offline/workloads.js';

import { CONFORMANCE } from '../conformance.js';

export { CONFORMANCE };
export const ISTIO_INJECT = `${CONFORMANCE}/istio-inject`;

const podSchema = JSON.parse(readFileSync(`${CONFORMANCE}/k8s-schemas/pod-v1.json`, 'utf8')) as object;
const ajv = new Ajv({ allErrors: true, strict: false });
const validatePodSchema = ajv.compile(podSchema);

/** Strict JSON schema (no unknown fields) and the Kubernetes OpenAPI rules; returns problems, empty when valid. */
export function podProblems(pod: Pod): string[] {
  const asPod = { apiVersion: 'v1', kind: 'Pod', ...JSON.parse(JSON.stringify(pod)) } as Record<string, unknown>;
  const problems: string[] = [];
  if (!validatePodSchema(asPod)) {
    for (const e of validatePodSchema.errors ?? []) problems.push(`schema: ${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  }
  try {
    new PodModel(asPod as ConstructorParameters<typeof PodModel>[0]).validate();
  } catch (err) {
    problems.push(`kubernetes-models: ${(err as Error).message}`);
  }
  return problems;
}

let defaultInjector: Promise<Injector> | undefined;
export function injector(config?: unknown): Promise<Injector> {
  if (config === undefined) return (defaultInjector ??= loadInjector());
  return loadInjector({ config });
}

export const manual = (namespace = 'default') => ({ namespace: { name: namespace }, mode: 'manual' as const });

/** Injects every pod site of a document the way `tandem inject` does. */
export function injectObject(o: KubeObject, inj: Injector): KubeObject {
  return mapPods(o, (site) => injectPod(site.pod, { ...manual(site.namespace ?? 'default'), workload: site.workload }, inj).pod);
}

export function basicPod(extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', ...(extra.labels ? { labels: extra.labels } : {}), ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: { containers: [{ name: 'app', image: 'shop/web:1', ports: [{ containerPort: 8080, name: 'http' }] }] },
  };
}
