import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { ConfigObject } from '../../../config/model.js';
import type { ConfigChange } from '../../model/depends-on.js';
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

/**
 * The config kinds the translation reads — the one list (the server takes these from the store):
 * routing (VirtualService, DestinationRule, ServiceEntry, Sidecar), Telemetry (access logs and tracing
 * in the connection managers, translate/istio/telemetry.ts), PeerAuthentication (inbound listeners and
 * auto mTLS, translate/istio/inbound.ts, tls.ts), AuthorizationPolicy (RBAC filters, translate/istio/authz/).
 */
export const TRANSLATED_KINDS = ['VirtualService', 'DestinationRule', 'ServiceEntry', 'Sidecar', 'Telemetry', 'PeerAuthentication', 'AuthorizationPolicy'] as const;
const TRANSLATED: ReadonlySet<string> = new Set(TRANSLATED_KINDS);

export function trafficConfigs(configs: readonly ConfigObject[]): ConfigObject[] {
  return configs.filter((c) => TRANSLATED.has(c.kind));
}

/**
 * Istio mode when there is traffic config or a mesh option that changes what a proxy gets
 * without any (REGISTRY_ONLY, access logs, default telemetry providers); otherwise the registry-only resources stay exactly as they are.
 */
export function istioMode(inputs: IstioInputs): boolean {
  const t = inputs.options.telemetry;
  // mesh-config access logs and default telemetry providers are only emitted by the Istio translation
  const telemetry = t.accessLogFile !== '' || t.defaultProviders.accessLogging.length > 0 || t.defaultProviders.tracing.length > 0;
  return trafficConfigs(inputs.configs).length > 0 || inputs.options.outboundTrafficPolicy !== DEFAULT_MESH_OPTIONS.outboundTrafficPolicy || telemetry;
}

/**
 * A content digest of everything the mesh snapshot is built from: equal digests, equal translations.
 * `registryDigest` is the registry's own digest (keys.ts registryKey of its services), computed once
 * by the caller, which also compares it across generations.
 */
export function meshInputsKey(registryDigest: string, inputs: IstioInputs): string {
  return createHash('sha256')
    .update(registryDigest)
    .update(JSON.stringify([trafficConfigs(inputs.configs), inputs.options]))
    .digest('base64url');
}

/**
 * The traffic config objects that differ between two mesh snapshots (keyed by configKey): `before`
 * absent for an added object, `after` absent for a deleted one. Unchanged objects are shared between
 * config snapshots, so most are told apart by identity; the rest are compared by content.
 */
export function configChanges(before: ReadonlyMap<string, ConfigObject>, after: ReadonlyMap<string, ConfigObject>): ConfigChange[] {
  const out: ConfigChange[] = [];
  for (const [key, a] of after) {
    const b = before.get(key);
    if (b === a) continue;
    if (b === undefined) out.push({ after: a });
    else if (!isDeepStrictEqual(b, a)) out.push({ before: b, after: a });
  }
  for (const [key, b] of before) if (!after.has(key)) out.push({ before: b });
  return out;
}

export function meshSnapshotOf(registry: RegistrySnapshot, inputs: IstioInputs, o: TranslateOptions): MeshSnapshot {
  return buildMeshSnapshot({ registry, configs: trafficConfigs(inputs.configs), options: { ...inputs.options, clusterDomain: o.clusterDomain } });
}
