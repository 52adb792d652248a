import { CoreV1Api, makeInformer, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { UserError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { isObject } from '../../common/objects.js';
import { ResilientInformer } from '../store/informer.js';
import { defaultMeshConfig, parseMeshConfig, type MeshConfig, type ParsedMeshConfig } from './mesh-config.js';

/** Istio's ConfigMap layout under tandem's name: ConfigMap `tandem-mesh`, key `mesh`, in the control plane's namespace. */
export const MESH_CONFIGMAP = 'tandem-mesh';
export const MESH_CONFIGMAP_KEY = 'mesh';
export const MESH_CONFIGMAP_NAMESPACE = 'tandem-system';

/** `--mesh-config FILE`: read and parsed once; a missing file or a wrong field is a UserError. */
export async function loadMeshConfigFile(file: string, log: Logger = silentLogger): Promise<MeshConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`mesh config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const parsed = parseMeshConfig(text, file);
  for (const w of parsed.warnings) log.warn({ file }, w);
  return parsed.mesh;
}

/** The mesh config of a ConfigMap object (pure): defaults when the key is absent; throws UserError when wrong. */
export function meshFromConfigMap(cm: unknown, key = MESH_CONFIGMAP_KEY): ParsedMeshConfig {
  const md = isObject(cm) && isObject(cm['metadata']) ? cm['metadata'] : {};
  const source = `ConfigMap ${String(md['namespace'])}/${String(md['name'])} key ${key}`;
  const data = isObject(cm) && isObject(cm['data']) ? cm['data'] : {};
  const text = data[key];
  if (text === undefined) return { mesh: defaultMeshConfig(), warnings: [`${source}: absent; using the defaults`] };
  if (typeof text !== 'string') throw new UserError(`${source}: must be a string`);
  return parseMeshConfig(text, source);
}

export interface MeshConfigWatcher {
  current(): MeshConfig;
  /** called with each new valid mesh config that differs from the one in force */
  onChange(listener: (mesh: MeshConfig) => void): () => void;
  /** resolves once the ConfigMap was listed (present or not) */
  readonly synced: Promise<void>;
  close(): Promise<void>;
}

export interface MeshConfigMapOptions {
  kubeConfig: KubeConfig;
  namespace?: string;
  name?: string;
  log?: Logger;
  retryMs?: number;
  maxRetryMs?: number;
}

/**
 * Watches the mesh ConfigMap. Absent (or deleted): Istio's defaults. Invalid: logged, and the last good
 * mesh config stays in force.
 */
export function watchMeshConfigMap(opts: MeshConfigMapOptions): MeshConfigWatcher {
  const namespace = opts.namespace ?? MESH_CONFIGMAP_NAMESPACE;
  const name = opts.name ?? MESH_CONFIGMAP;
  const log = opts.log ?? silentLogger;
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const listeners = new Set<(m: MeshConfig) => void>();
  let current = defaultMeshConfig();
  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => (resolveSynced = r));

  const set = (next: MeshConfig): void => {
    if (isDeepStrictEqual(current, next)) return;
    current = next;
    for (const l of [...listeners]) l(next);
  };
  const seen = (cm: KubernetesObject): void => {
    if (cm.metadata?.name !== name) return;
    try {
      const parsed = meshFromConfigMap(cm);
      for (const w of parsed.warnings) log.warn({ configMap: `${namespace}/${name}` }, w);
      set(parsed.mesh);
    } catch (err) {
      log.error({ configMap: `${namespace}/${name}`, err: (err as Error).message }, 'invalid mesh config; the last good one stays in force');
    }
  };
  const inf = makeInformer<KubernetesObject>(opts.kubeConfig, `/api/v1/namespaces/${namespace}/configmaps`, () => core.listNamespacedConfigMap({ namespace }));
  inf.on('add', seen);
  inf.on('update', seen);
  inf.on('delete', (cm) => {
    if (cm.metadata?.name === name) set(defaultMeshConfig());
  });
  const watch = new ResilientInformer(`configmap ${namespace}/${name}`, inf, { retryMs: opts.retryMs ?? 1000, maxRetryMs: opts.maxRetryMs ?? 30_000, log }, resolveSynced);
  void watch.run();
  return {
    current: () => current,
    onChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    synced,
    close: () => watch.stop(),
  };
}
