import type { V1Container } from '@kubernetes/client-node';
import { STATUS_ANNOTATION } from './labels.js';
import { OVERRIDES_ANNOTATION, parseOverrides } from './overrides.js';
import type { Pod } from './types.js';

/**
 * The status annotation (`sidecar.istio.io/status`, Istio's shape) and undoing
 * a previous injection from it, so that injecting twice equals injecting once.
 */

/** What `sidecar.istio.io/status` records, so that re-injection can remove exactly what was added. */
export interface InjectionStatus {
  initContainers: string[] | null;
  containers: string[] | null;
  volumes: string[] | null;
  imagePullSecrets: string[] | null;
  revision: string;
}

const PROXY_CONTAINER = 'istio-proxy';

/** Parses a status annotation; undefined when it is not one of ours. */
export function parseStatus(raw: string | undefined): InjectionStatus | undefined {
  if (raw === undefined) return undefined;
  try {
    const s = JSON.parse(raw) as Partial<InjectionStatus>;
    if (typeof s !== 'object' || s === null) return undefined;
    const names = (x: unknown): string[] | null => (Array.isArray(x) ? x.filter((n): n is string => typeof n === 'string') : null);
    return {
      initContainers: names(s.initContainers),
      containers: names(s.containers),
      volumes: names(s.volumes),
      imagePullSecrets: names(s.imagePullSecrets),
      revision: typeof s.revision === 'string' ? s.revision : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * Removes what a previous injection added (per its status annotation), so that
 * injecting again starts from the application's own pod. Mutates `pod`.
 */
export function removePreviousInjection(pod: Pod, warnings: string[]): void {
  const raw = pod.metadata?.annotations?.[STATUS_ANNOTATION];
  if (raw === undefined || !pod.spec) return;
  let status = parseStatus(raw);
  if (!status) {
    warnings.push(`annotation ${STATUS_ANNOTATION} is not valid JSON; removing containers named istio-init/istio-validation/istio-proxy before re-injecting`);
    status = { initContainers: ['istio-init', 'istio-validation', PROXY_CONTAINER], containers: [PROXY_CONTAINER], volumes: null, imagePullSecrets: null, revision: '' };
  }
  const spec = pod.spec;
  // The user's own versions of containers the injection replaced (their istio-proxy/istio-init, or app
  // containers a named template changed) go back where they were; the rest of what was added goes.
  const overrides = parseOverrides(pod.metadata?.annotations?.[OVERRIDES_ANNOTATION]);
  const used = new Set<V1Container>();
  const restore = (key: 'initContainers' | 'containers', names: string[] | null): void => {
    const list = spec[key];
    if (!list || !names) return;
    const kept: V1Container[] = [];
    for (const c of list) {
      if (!names.includes(c.name)) kept.push(c);
      else {
        const own = overrides[key].find((o) => o.name === c.name);
        if (own) {
          kept.push(own);
          used.add(own);
        }
      }
    }
    if (kept.length > 0 || key === 'containers') spec[key] = kept;
    else delete spec[key];
  };
  const drop = <K extends 'volumes' | 'imagePullSecrets'>(key: K, names: string[] | null): void => {
    const list = spec[key] as Array<{ name?: string }> | undefined;
    if (!list || !names) return;
    const kept = list.filter((x) => !names.includes(x.name ?? ''));
    if (kept.length > 0) (spec as unknown as Record<string, unknown>)[key] = kept;
    else delete spec[key];
  };
  restore('initContainers', status.initContainers);
  restore('containers', status.containers);
  drop('volumes', status.volumes);
  drop('imagePullSecrets', status.imagePullSecrets);
  for (const c of overrides.containers) if (!used.has(c) && !spec.containers.some((x) => x.name === c.name)) spec.containers.push(c);
  for (const c of overrides.initContainers) {
    if (used.has(c)) continue;
    spec.initContainers ??= [];
    if (!spec.initContainers.some((x) => x.name === c.name)) spec.initContainers.push(c);
  }
}
