import type { V1Container, V1ContainerPort, V1EnvVar, V1VolumeMount } from '@kubernetes/client-node';
import type { Pod } from './types.js';

/**
 * User-supplied containers named like injected ones (istio-proxy, istio-init)
 * override fields of the injected container, as in Istio. The originals are kept
 * in an annotation so that re-injection can apply them again.
 */

/** Where user-supplied istio-init/istio-proxy containers are kept between injections (Istio's annotation for the same purpose). */
export const OVERRIDES_ANNOTATION = 'proxy.istio.io/overrides';

export interface Overrides {
  containers: V1Container[];
  initContainers: V1Container[];
}

export function parseOverrides(raw: string | undefined): Overrides {
  const none: Overrides = { containers: [], initContainers: [] };
  if (raw === undefined) return none;
  try {
    const o = JSON.parse(raw) as Partial<Overrides>;
    const named = (l: unknown): V1Container[] => (Array.isArray(l) ? l.filter((c): c is V1Container => typeof (c as V1Container | null)?.name === 'string') : []);
    return { containers: named(o.containers), initContainers: named(o.initContainers) };
  } catch {
    return none;
  }
}

/** Takes the user's containers named like injected ones out of the pod spec. */
export function takeUserOverrides(spec: NonNullable<Pod['spec']>, names: string[]): Overrides {
  const taken: Overrides = { containers: [], initContainers: [] };
  for (const key of ['containers', 'initContainers'] as const) {
    const list = spec[key];
    if (!list) continue;
    taken[key] = list.filter((c) => names.includes(c.name));
    if (taken[key].length > 0) spec[key] = list.filter((c) => !names.includes(c.name));
  }
  if (spec.initContainers?.length === 0) delete spec.initContainers;
  return taken;
}

/** Lists merged by a key, the user's entries replacing ours (Kubernetes strategic-merge keys for containers). */
function mergeByKey<T>(ours: T[] | undefined, theirs: T[] | undefined, key: (x: T) => unknown): T[] | undefined {
  if (!theirs) return ours;
  const out = [...(ours ?? [])];
  for (const t of theirs) {
    const i = out.findIndex((o) => key(o) === key(t));
    if (i >= 0) out[i] = t;
    else out.push(t);
  }
  return out;
}

/**
 * A container named like an injected one (istio-proxy, istio-init) is the
 * user's override of it: their fields win, lists keyed as Kubernetes merges them.
 */
export function mergeUserContainer(injected: V1Container, user: V1Container): V1Container {
  const merged: V1Container = { ...injected, ...user };
  // Istio's convention: image "auto" means "whatever the injector uses".
  if (user.image === undefined || user.image === 'auto') merged.image = injected.image;
  merged.env = mergeByKey<V1EnvVar>(injected.env, user.env, (e) => e.name);
  merged.ports = mergeByKey<V1ContainerPort>(injected.ports, user.ports, (p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`);
  merged.volumeMounts = mergeByKey<V1VolumeMount>(injected.volumeMounts, user.volumeMounts, (m) => m.mountPath);
  if (user.securityContext) merged.securityContext = { ...injected.securityContext, ...user.securityContext };
  if (user.resources) {
    merged.resources = { ...injected.resources, ...user.resources };
    for (const k of ['requests', 'limits'] as const) {
      if (injected.resources?.[k] || user.resources[k]) merged.resources[k] = { ...injected.resources?.[k], ...user.resources[k] };
    }
  }
  for (const k of Object.keys(merged) as Array<keyof V1Container>) if (merged[k] === undefined) delete merged[k];
  return merged;
}
