import type { KubeConfig } from '@kubernetes/client-node';
import { mkdir } from 'node:fs/promises';
import { silentLogger, type Logger } from '../common/logger.js';
import { defaultMeshConfig, type MeshConfig } from '../config/mesh/mesh-config.js';
import { loadMeshConfigFile, watchMeshConfigMap, type MeshConfigWatcher } from '../config/mesh/source.js';
import { createConfigStore, type ConfigStore } from '../config/store/index.js';
import type { RejectionCounter } from '../config/store/types.js';
import { validateConfig } from '../config/validation/validate.js';
import { meshOptionsFromMeshConfig, type MeshOptions } from './model/options.js';

/**
 * The Istio inputs of the control plane, opened from the `--config` and `--mesh-config` flags:
 * the config store (validated by the one validator, config/validation/) and the mesh config —
 * from the file when given, else from the `tandem-mesh` ConfigMap in a cluster, else defaults.
 * What `tandem serve` and `tandem control-plane` share; they pass the result to the xDS server.
 */
export interface IstioConfig {
  /** absent without `--config` (a mesh config alone still sets the mesh options) */
  store: ConfigStore | undefined;
  /** the mesh options in force now */
  mesh: MeshOptions;
  /** resolves when the store and the mesh ConfigMap (if watched) have synced */
  synced: Promise<void>;
  /** calls `listener` with each new mesh config's options (ConfigMap only; a file is read once) */
  onMesh(listener: (options: MeshOptions) => void): () => void;
  close(): Promise<void>;
}

export interface IstioConfigOptions {
  /** `kubernetes` | `file:PATH`; undefined: no config store */
  spec: string | undefined;
  meshConfigFile?: string;
  /** needed for `kubernetes` and for the mesh ConfigMap */
  kubeConfig?: () => Promise<KubeConfig>;
  /** create a missing `file:` directory (embedded defaults) */
  createDir?: boolean;
  log?: Logger;
  metrics?: RejectionCounter;
  clusterDomain?: string;
}

export async function openIstioConfig(o: IstioConfigOptions): Promise<IstioConfig> {
  const log = o.log ?? silentLogger;
  let meshConfig: MeshConfig = defaultMeshConfig();
  let watcher: MeshConfigWatcher | undefined;
  if (o.meshConfigFile) meshConfig = await loadMeshConfigFile(o.meshConfigFile, log);
  else if ((o.spec === 'kubernetes' || o.spec === undefined) && o.kubeConfig) {
    watcher = watchMeshConfigMap({ kubeConfig: await o.kubeConfig(), log });
    meshConfig = watcher.current();
  }
  if (o.createDir && o.spec?.startsWith('file:')) await mkdir(o.spec.slice('file:'.length), { recursive: true });
  const store = o.spec === undefined ? undefined : await createConfigStore(o.spec, {
    validate: (obj) => validateConfig(obj).problems,
    log,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.spec === 'kubernetes' && o.kubeConfig ? { kubeConfig: await o.kubeConfig() } : {}),
    mesh: meshConfig,
  });
  const toOptions = (m: MeshConfig): MeshOptions => meshOptionsFromMeshConfig(m, o.clusterDomain);
  const current = { options: toOptions(meshConfig) };
  const listeners = new Set<(options: MeshOptions) => void>();
  const unwatch = watcher?.onChange((m) => {
    // new discoverySelectors change what the store reads; the rest is translation input
    store?.setMesh(m);
    current.options = toOptions(m);
    for (const l of [...listeners]) l(current.options);
  });
  return {
    store,
    get mesh() {
      return current.options;
    },
    synced: Promise.all([store?.synced, watcher?.synced]).then(() => undefined),
    onMesh(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close: async () => {
      unwatch?.();
      await Promise.all([store?.close(), watcher?.close()]);
    },
  };
}
