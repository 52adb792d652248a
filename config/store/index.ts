import type { KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../../common/errors.js';
import type { MeshConfig } from '../mesh/mesh-config.js';
import { createFileConfigStore } from './file.js';
import type { ConfigStore, ConfigStoreDeps } from './types.js';

export type { ConfigChange, ConfigStore, ConfigStoreDeps, ConfigValidator, KindChanges } from './types.js';
export { ConfigSnapshot } from './snapshot.js';

export interface ConfigStoreFactoryDeps extends ConfigStoreDeps {
  /** file source: quiet time after a file event before rescanning, ms */
  settleMs?: number;
  /** kubernetes source: defaults to the usual loading order (KUBECONFIG, ~/.kube/config, in-cluster) */
  kubeConfig?: KubeConfig;
  /** kubernetes source: its discoverySelectors limit the namespaces read (a file has no namespace labels) */
  mesh?: Pick<MeshConfig, 'discoverySelectors'>;
}

/**
 * `kubernetes` or `file:PATH` (the `--config` flag). A file store resolves after its first read
 * (`synced` already resolved); a Kubernetes store resolves at once and keeps waiting for the API and for
 * CRDs in the background: await `synced` before answering proxies.
 */
export async function createConfigStore(spec: string, deps: ConfigStoreFactoryDeps): Promise<ConfigStore> {
  if (spec.startsWith('file:')) {
    const file = spec.slice('file:'.length);
    if (file === '') throw new UserError('--config file: needs a path, e.g. file:.tandem/config');
    return createFileConfigStore(file, deps);
  }
  if (spec === 'kubernetes') {
    const { createKubernetesConfigStore } = await import('./kubernetes.js');
    return createKubernetesConfigStore(deps);
  }
  throw new UserError(`--config must be "kubernetes" or "file:PATH", got ${JSON.stringify(spec)}`);
}
