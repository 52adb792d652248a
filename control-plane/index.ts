/**
 * The control plane's public surface, for `tandem serve` and embedding:
 * service registries and the ADS server.
 */
export { createRegistry, kubernetesConfigured, type RegistryFactoryOptions } from './registry/index.js';
export { createFileRegistry, parseRegistryFile, type FileRegistryOptions } from './registry/file.js';
export {
  StaticRegistry,
  type Endpoint,
  type Logger,
  type PortProtocol,
  type RegistrySnapshot,
  type Service,
  type ServicePort,
  type ServiceRegistry,
} from './registry/types.js';
export { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './server.js';
export type { ProxyStatus, TypeStatus, XdsMetrics, XdsStats } from './xds/context.js';
