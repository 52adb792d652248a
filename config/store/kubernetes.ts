import type { ConfigStore } from './types.js';
import type { ConfigStoreFactoryDeps } from './index.js';
export async function createKubernetesConfigStore(_deps: ConfigStoreFactoryDeps): Promise<ConfigStore> {
  throw new Error('todo');
}
