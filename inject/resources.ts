import { UserError } from '../common/errors.js';
import { isQuantity, type Resources } from './config.js';
import { RESOURCE_ANNOTATIONS } from './labels.js';

/**
 * Sidecar resources: the injector default, or, when the pod sets any of the
 * sidecar.istio.io/proxyCPU|proxyMemory|proxyCPULimit|proxyMemoryLimit
 * annotations, exactly what those say (as Istio: no default is mixed in).
 */
export function resourcesFromAnnotations(annotations: Record<string, string> | undefined): Resources | undefined {
  if (!annotations) return undefined;
  const get = (key: string): string | undefined => {
    const v = annotations[key];
    if (v === undefined) return undefined;
    if (!isQuantity(v.trim())) throw new UserError(`invalid annotation ${key}="${v}": not a Kubernetes quantity (e.g. 100m, 2, 128Mi, 1Gi)`);
    return v.trim();
  };
  const cpu = get(RESOURCE_ANNOTATIONS.cpu);
  const memory = get(RESOURCE_ANNOTATIONS.memory);
  const cpuLimit = get(RESOURCE_ANNOTATIONS.cpuLimit);
  const memoryLimit = get(RESOURCE_ANNOTATIONS.memoryLimit);
  if (cpu === undefined && memory === undefined && cpuLimit === undefined && memoryLimit === undefined) return undefined;
  const r: Resources = {};
  if (cpu !== undefined || memory !== undefined) r.requests = { ...(cpu !== undefined ? { cpu } : {}), ...(memory !== undefined ? { memory } : {}) };
  if (cpuLimit !== undefined || memoryLimit !== undefined) r.limits = { ...(cpuLimit !== undefined ? { cpu: cpuLimit } : {}), ...(memoryLimit !== undefined ? { memory: memoryLimit } : {}) };
  return r;
}
