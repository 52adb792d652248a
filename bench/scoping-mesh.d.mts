import type { ConfigObject } from '../config/model.js';
import type { MeshProxy } from '../control-plane/model/proxy.js';
import type { RegistrySnapshot } from '../control-plane/registry/types.js';

export declare function scopingMesh(o?: { namespaces?: number; services?: number; scoped?: boolean }): {
  registry: RegistrySnapshot;
  configs: ConfigObject[];
  proxy: MeshProxy;
};
