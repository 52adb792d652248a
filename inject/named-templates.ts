import type { V1Container, V1Volume } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../common/errors.js';
import { mergeUserContainer } from './overrides.js';
import { compileTemplate, type TemplateValues } from './template-engine.js';
import { isDns1123Label } from '../common/names.js';
import { isObject } from '../common/objects.js';

/**
 * Named templates (`inject.istio.io/templates: sidecar,NAME,...`): besides the
 * built-in `sidecar` (istio-init.yaml, istio-proxy.yaml, volumes.yaml), every
 * other `NAME.yaml` in the templates directory is a pod overlay applied in the
 * listed order, as Istio merges its templates over the pod:
 *
 *   metadata: {labels: {...}, annotations: {...}}   # added; the template wins
 *   spec:
 *     initContainers: [...]   # merged by name into the pod's, else appended
 *     containers: [...]       # same; `name: "*"` merges into every app container
 *     volumes: [...]          # replaced by name, else appended
 *
 * Metadata may only use config-level placeholders: it is rendered once at
 * startup, because its annotations (e.g. sidecar.istio.io/rewriteAppHTTPProbers)
 * steer the rest of the injection. The spec takes every sidecar placeholder.
 */
export const TEMPLATES_ANNOTATION = 'inject.istio.io/templates';
export const SIDECAR_TEMPLATE = 'sidecar';
export const EVERY_APP_CONTAINER = '*';

/** Placeholders whose values do not depend on the pod. */
export const CONFIG_LEVEL_PLACEHOLDERS = ['initImage', 'imagePullPolicy', 'proxyUID', 'proxyGID', 'revision', 'xdsAddress', 'clusterId', 'meshId', 'workloadTlsMode'] as const;

export interface OverlaySpec {
  initContainers?: V1Container[];
  containers?: V1Container[];
  volumes?: V1Volume[];
}

export interface NamedTemplate {
  name: string;
  source: string;
  /** rendered once (config-level values) at load */
  metadata: (v: TemplateValues) => { labels: Record<string, string>; annotations: Record<string, string> };
  spec: (v: TemplateValues) => OverlaySpec;
}

export function compileNamedTemplate(name: string, text: string, source: string, known: ReadonlySet<string>): NamedTemplate {
  if (!isDns1123Label(name)) throw new UserError(`template ${source}: template name "${name}" must be a DNS-1123 label`);
  let whole: unknown;
  try {
    whole = parseYaml(text);
  } catch (err) {
    throw new UserError(`template ${source}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (whole === null || whole === undefined) whole = {};
  if (!isObject(whole)) throw new UserError(`template ${source}: must be a mapping with metadata and/or spec`);
  for (const k of Object.keys(whole)) {
    if (k !== 'metadata' && k !== 'spec') throw new UserError(`template ${source}: unknown top-level field "${k}" (allowed: metadata, spec)`);
  }
  // Each part compiled on its own (JSON is YAML), so that metadata is held to config-level placeholders.
  const meta = compileTemplate(JSON.stringify(whole.metadata ?? {}), `${source} metadata`, new Set(CONFIG_LEVEL_PLACEHOLDERS));
  const spec = compileTemplate(JSON.stringify(whole.spec ?? {}), `${source} spec`, known);
  return {
    name,
    source,
    metadata: (v) => {
      const m = meta.render(v);
      if (!isObject(m)) throw new UserError(`template ${source}: metadata must be a mapping`);
      const out = { labels: {} as Record<string, string>, annotations: {} as Record<string, string> };
      for (const [k, x] of Object.entries(m)) {
        if (k !== 'labels' && k !== 'annotations') throw new UserError(`template ${source}: metadata.${k}: only labels and annotations can be set`);
        if (x === null || x === undefined) continue;
        if (!isObject(x)) throw new UserError(`template ${source}: metadata.${k} must be a mapping`);
        for (const [kk, vv] of Object.entries(x)) {
          if (typeof vv !== 'string') throw new UserError(`template ${source}: metadata.${k}.${kk} must be a string`);
          out[k][kk] = vv;
        }
      }
      return out;
    },
    spec: (v) => {
      const s = spec.render(v);
      if (s === undefined || s === null) return {};
      if (!isObject(s)) throw new UserError(`template ${source}: spec must be a mapping`);
      for (const [k, x] of Object.entries(s)) {
        if (k !== 'containers' && k !== 'initContainers' && k !== 'volumes') throw new UserError(`template ${source}: spec.${k}: only containers, initContainers and volumes can be set`);
        if (!Array.isArray(x)) throw new UserError(`template ${source}: spec.${k} must be a list`);
        for (const [i, item] of x.entries()) {
          if (!isObject(item) || typeof item.name !== 'string' || item.name === '') throw new UserError(`template ${source}: spec.${k}[${i}] needs a name`);
          if (item.name === EVERY_APP_CONTAINER && k !== 'containers') throw new UserError(`template ${source}: spec.${k}[${i}]: name "*" only applies to containers`);
        }
      }
      return s as OverlaySpec;
    },
  };
}

/** The templates a pod asks for, in order, duplicates dropped; unknown names are the user's error. */
export function requestedTemplates(annotation: string | undefined, known: ReadonlyMap<string, NamedTemplate>): string[] {
  if (annotation === undefined || annotation.trim() === '') return [SIDECAR_TEMPLATE];
  const names: string[] = [];
  for (const raw of annotation.split(',')) {
    const n = raw.trim();
    if (n === '' || names.includes(n)) continue;
    if (n !== SIDECAR_TEMPLATE && !known.has(n)) {
      const list = [SIDECAR_TEMPLATE, ...[...known.keys()].sort()].join(', ');
      throw new UserError(`invalid annotation ${TEMPLATES_ANNOTATION}="${annotation}": unknown template "${n}" (available: ${list})`);
    }
    names.push(n);
  }
  return names.length > 0 ? names : [SIDECAR_TEMPLATE];
}

export interface OverlayResult {
  /** names of containers / init containers the overlay added or changed */
  containers: string[];
  initContainers: string[];
  volumes: string[];
  /** the pod's own versions of containers the overlay changed, for re-injection */
  originals: { containers: V1Container[]; initContainers: V1Container[] };
}

/**
 * Applies one rendered overlay to a pod spec in place. `apps` names the
 * containers "*" applies to. New containers must be complete (an image).
 */
export function applyOverlay(
  spec: { containers: V1Container[]; initContainers?: V1Container[]; volumes?: V1Volume[] },
  overlay: OverlaySpec,
  apps: readonly string[],
  source: string,
): OverlayResult {
  const result: OverlayResult = { containers: [], initContainers: [], volumes: [], originals: { containers: [], initContainers: [] } };
  const mergeInto = (key: 'containers' | 'initContainers', items: V1Container[] | undefined): void => {
    if (!items) return;
    const list: V1Container[] = key === 'containers' ? spec.containers : (spec.initContainers ??= []);
    for (const item of items) {
      const targets = item.name === EVERY_APP_CONTAINER ? apps : [item.name];
      for (const name of targets) {
        // A container that became a native sidecar (istio-proxy) lives in initContainers now; patch it there.
        const native = key === 'containers' && !list.some((c) => c.name === name) ? spec.initContainers?.findIndex((c) => c.name === name && c.restartPolicy === 'Always') ?? -1 : -1;
        const where: 'containers' | 'initContainers' = native >= 0 ? 'initContainers' : key;
        const inList = native >= 0 ? (spec.initContainers as V1Container[]) : list;
        const i = native >= 0 ? native : list.findIndex((c) => c.name === name);
        if (i >= 0) {
          const current = inList[i] as V1Container;
          if (!result[where].includes(name)) {
            result[where].push(name);
            result.originals[where].push(current);
          }
          inList[i] = mergeUserContainer(current, { ...item, name });
        } else {
          if (typeof item.image !== 'string' || item.image === '') throw new UserError(`template ${source}: ${key} ${name} is not in the pod and has no image`);
          list.push({ ...item, name });
          result[key].push(name);
        }
      }
    }
    if (key === 'initContainers' && list.length === 0) delete spec.initContainers;
  };
  mergeInto('initContainers', overlay.initContainers);
  mergeInto('containers', overlay.containers);
  if (overlay.volumes) {
    const vols = (spec.volumes ??= []);
    for (const v of overlay.volumes) {
      const i = vols.findIndex((x) => x.name === v.name);
      if (i >= 0) vols[i] = v;
      else vols.push(v);
      result.volumes.push(v.name);
    }
  }
  return result;
}
