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
    warnings.push(`annotation ${STATUS_ANNOTATION} is not valid JSON; removing containers named istio-init/istio-proxy before re-injecting`);
    status = { initContainers: ['istio-init', PROXY_CONTAINER], containers: [PROXY_CONTAINER], volumes: null, imagePullSecrets: null, revision: '' };
  }
  const spec = pod.spec;
  const drop = <K extends 'initContainers' | 'containers' | 'volumes' | 'imagePullSecrets'>(key: K, names: string[] | null): void => {
    const list = spec[key] as Array<{ name?: string }> | undefined;
    if (!list || !names) return;
    const kept = list.filter((x) => !names.includes(x.name ?? ''));
    if (kept.length > 0 || key === 'containers') (spec as unknown as Record<string, unknown>)[key] = kept;
    else delete spec[key];
  };
  drop('initContainers', status.initContainers);
  drop('containers', status.containers);
  drop('volumes', status.volumes);
  drop('imagePullSecrets', status.imagePullSecrets);
  // The user's own istio-init/istio-proxy fields were merged into the removed containers; restore them as written.
  const overrides = parseOverrides(pod.metadata?.annotations?.[OVERRIDES_ANNOTATION]);
  for (const c of overrides.containers) if (!spec.containers.some((x) => x.name === c.name)) spec.containers.push(c);
  for (const c of overrides.initContainers) {
    spec.initContainers ??= [];
    if (!spec.initContainers.some((x) => x.name === c.name)) spec.initContainers.push(c);
  }
}
