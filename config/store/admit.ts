import { isObject } from '../../common/objects.js';
import { CONFIG_KINDS, CONFIG_VERSIONS, configKey, type ConfigKind, type ConfigMeta, type ConfigObject, type ConfigProblem } from '../model.js';
import type { ConfigValidator } from './types.js';

/** What the stores do with one raw document: not Istio config, refused, or accepted as a frozen ConfigObject. */
export type Admission =
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'rejected'; kind: ConfigKind; key: string | undefined; problems: ConfigProblem[] }
  | { outcome: 'accepted'; object: ConfigObject };

const KIND_BY_GROUP = new Map(CONFIG_KINDS.map((k) => [`${k.group}/${k.kind}`, k.kind as ConfigKind]));

/** The Istio kind of a document by its group and kind (`Gateway` of gateway.networking.k8s.io is not Istio's), or undefined. */
export function istioKind(doc: Record<string, unknown>): ConfigKind | undefined {
  const apiVersion = doc['apiVersion'];
  const kind = doc['kind'];
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? undefined : KIND_BY_GROUP.get(`${apiVersion.slice(0, slash)}/${kind}`);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

const META_FIELDS = ['name', 'namespace', 'labels', 'annotations', 'resourceVersion', 'generation', 'creationTimestamp'] as const;

/**
 * Runs one raw document through the rules every source shares (pure): non-Istio kinds are ignored;
 * `defaultNamespace` fills an absent metadata.namespace (files); the validator's problems refuse it;
 * an accepted object keeps apiVersion, kind, the metadata fields of ConfigMeta and spec — frozen.
 */
export function admitDocument(raw: unknown, validate: ConfigValidator, defaultNamespace?: string): Admission {
  if (!isObject(raw)) return { outcome: 'ignored', reason: 'not a mapping' };
  const kind = istioKind(raw);
  if (kind === undefined) return { outcome: 'ignored', reason: `not an Istio config kind: ${String(raw['apiVersion'])} ${String(raw['kind'])}` };
  let doc = raw;
  const md = raw['metadata'];
  if (defaultNamespace !== undefined && isObject(md) && (md['namespace'] === undefined || md['namespace'] === null || md['namespace'] === '')) {
    doc = { ...raw, metadata: { ...md, namespace: defaultNamespace } };
  }
  const meta = isObject(doc['metadata']) ? doc['metadata'] : {};
  const name = meta['name'];
  const namespace = meta['namespace'];
  const key = typeof name === 'string' && name !== '' && typeof namespace === 'string' && namespace !== '' ? configKey({ kind, metadata: { name, namespace } }) : undefined;

  let problems: ConfigProblem[];
  try {
    problems = validate(doc);
  } catch (err) {
    // a validator bug refuses this object, never the whole source
    problems = [{ path: '', message: `validator failed: ${(err as Error).message}` }];
  }
  if (problems.length === 0) {
    const version = String(doc['apiVersion']).split('/')[1] ?? '';
    if (!(CONFIG_VERSIONS as readonly string[]).includes(version)) problems = [{ path: 'apiVersion', message: `version must be one of ${CONFIG_VERSIONS.join(', ')}, got ${JSON.stringify(version)}` }];
    else if (key === undefined) problems = [{ path: 'metadata', message: 'needs a name and a namespace' }];
  }
  if (problems.length > 0 || key === undefined) return { outcome: 'rejected', kind, key, problems };

  const metadata: Record<string, unknown> = {};
  for (const f of META_FIELDS) if (meta[f] !== undefined && meta[f] !== null) metadata[f] = structuredClone(meta[f]);
  // client-node's list deserializes timestamps to Date, a watch event carries the apiserver's RFC 3339 text
  const created = metadata['creationTimestamp'];
  if (created instanceof Date) metadata['creationTimestamp'] = created.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const spec = isObject(doc['spec']) ? structuredClone(doc['spec']) : {};
  return { outcome: 'accepted', object: deepFreeze({ apiVersion: doc['apiVersion'] as string, kind, metadata: metadata as unknown as ConfigMeta, spec }) };
}

/** One line for a refused object's problems: `spec.hosts[0]: must be …; spec.http: …`. */
export function describeProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ');
}
