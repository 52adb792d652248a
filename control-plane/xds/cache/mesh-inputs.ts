import { createHash } from 'node:crypto';
import type { ConfigObject } from '../../../config/model.js';
import { DEFAULT_MESH_OPTIONS, type MeshOptions } from '../../model/options.js';
import { buildMeshSnapshot, type MeshSnapshot } from '../../model/snapshot.js';
import type { RegistrySnapshot } from '../../registry/types.js';
import type { TranslateOptions } from '../translate/common.js';

/**
 * The inputs of a generation besides the registry: the Istio config in force and the mesh
 * options. Only the kinds the traffic translation reads count, so a change to a Gateway or an
 * AuthorizationPolicy neither switches modes nor rebuilds anything.
 */
export interface IstioInputs {
  configs: readonly ConfigObject[];
  options: MeshOptions;
}

// PeerAuthentication: inbound listeners and auto mTLS read it (translate/istio/inbound.ts, tls.ts)
const TRAFFIC_KINDS: ReadonlySet<string> = new Set(['VirtualService', 'DestinationRule', 'ServiceEntry', 'Sidecar', 'PeerAuthentication']);

export function trafficConfigs(configs: readonly ConfigObject[]): ConfigObject[] {
  return configs.filter((c) => TRAFFIC_KINDS.has(c.kind));
}

/**
 * Istio mode when there is traffic config or a mesh option that changes what a proxy gets
 * without any (REGISTRY_ONLY); otherwise the registry-only resources stay exactly as they are.
 */
export function istioMode(inputs: IstioInputs): boolean {
  return trafficConfigs(inputs.configs).length > 0 || inputs.options.outboundTrafficPolicy !== DEFAULT_MESH_OPTIONS.outboundTrafficPolicy;
}

/** A content digest of everything the mesh snapshot is built from: equal digests, equal translations. */
export function meshInputsKey(registry: RegistrySnapshot, inputs: IstioInputs): string {
  return createHash('sha256')
    .update(JSON.stringify([registry.services, trafficConfigs(inputs.configs), inputs.options]))
    .digest('base64url');
}

export function meshSnapshotOf(registry: RegistrySnapshot, inputs: IstioInputs, o: TranslateOptions): MeshSnapshot {
  return buildMeshSnapshot({ registry, configs: trafficConfigs(inputs.configs), options: { ...inputs.options, clusterDomain: o.clusterDomain } });
}
