import type { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../common/errors.js';
import { createFileRegistry } from './file.js';
import type { Logger } from '../../common/logger.js';
import type { ServiceRegistry } from './types.js';

export interface RegistryFactoryOptions {
  log?: Logger;
  /** for the Kubernetes registry; defaults to the usual loading order (KUBECONFIG, ~/.kube/config, in-cluster) */
  kubeConfig?: KubeConfig;
}

/** Whether a Kubernetes API is reachable by configuration: in-cluster env or a kubeconfig file. */
export function kubernetesConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT']) return true;
  const files = env['KUBECONFIG'] ? env['KUBECONFIG'].split(path.delimiter) : [path.join(os.homedir(), '.kube', 'config')];
  return files.some((f) => f !== '' && existsSync(f));
}

/**
 * `kubernetes` or `file:PATH`. Resolves once the registry holds its initial
 * content (file read and validated; Services and EndpointSlices listed).
 */
export async function createRegistry(spec: string, opts: RegistryFactoryOptions = {}): Promise<ServiceRegistry> {
  if (spec.startsWith('file:')) {
    const file = spec.slice('file:'.length);
    if (file === '') throw new UserError('--registry file: needs a path, e.g. file:./services.yaml');
    return createFileRegistry(file, opts);
  }
  if (spec === 'kubernetes') {
    const { createKubernetesRegistry } = await import('./kubernetes.js');
    return createKubernetesRegistry(opts);
  }
  throw new UserError(`--registry must be "kubernetes" or "file:PATH", got ${JSON.stringify(spec)}`);
}
