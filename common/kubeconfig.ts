import { KubeConfig } from '@kubernetes/client-node';
import { UserError } from './errors.js';

/**
 * The Kubernetes client configuration: a kubeconfig file when named, else the default
 * lookup (in-cluster service account, $KUBECONFIG, ~/.kube/config). Import this module lazily:
 * it loads the Kubernetes client.
 */
export function loadKubeConfig(file?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  const where = file ?? '(default)';
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
    if (context) kc.setCurrentContext(context);
  } catch (err) {
    throw new UserError(`cannot load kubeconfig ${where}: ${(err as Error).message}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) throw new UserError(`no cluster configured in kubeconfig ${where}`);
  return kc;
}
