/**
 * The control plane's public surface, for `tandem serve` and embedding:
 * service registries and the xDS server.
 */
export { createRegistry, kubernetesConfigured, type RegistryFactoryOptions } from './registry/index.js';
export { createFileRegistry, parseRegistryFile, type FileRegistryOptions } from './registry/file.js';
export {
  StaticRegistry,
  type Endpoint,
  type PortProtocol,
  type RegistrySnapshot,
  type Service,
  type ServicePort,
  type ServiceRegistry,
} from './registry/types.js';
export { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './server.js';
export { registerXds, type XdsHandle, type XdsOptions } from './xds/server/register.js';
export type { ProxyStatus, TypeStatus, XdsMetrics, XdsStats } from './xds/server/context.js';
