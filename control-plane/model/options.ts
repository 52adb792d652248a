/**
 * The part of Istio's MeshConfig the mesh snapshot reads. Another module parses MeshConfig itself;
 * this is the small, already-resolved shape it hands over, with Istio's defaults.
 */
import { defaultMeshConfig, type MeshConfig } from '../../config/mesh/mesh-config.js';
import type { ExportTo } from './visibility.js';

export type OutboundTrafficMode = 'ALLOW_ANY' | 'REGISTRY_ONLY';

/** The MeshConfig fields access logs and tracing read (xds/translate/istio/access-log.ts, tracing.ts). */
export type MeshTelemetry = Readonly<Pick<MeshConfig, 'accessLogFile' | 'accessLogEncoding' | 'accessLogFormat' | 'enableTracing' | 'extensionProviders' | 'defaultProviders'>>;

export function meshTelemetry(mc: MeshTelemetry): MeshTelemetry {
  return Object.freeze({
    accessLogFile: mc.accessLogFile,
    accessLogEncoding: mc.accessLogEncoding,
    accessLogFormat: mc.accessLogFormat,
    enableTracing: mc.enableTracing,
    extensionProviders: mc.extensionProviders,
    defaultProviders: mc.defaultProviders,
  });
}

export interface MeshOptions {
  /** Sidecars and DestinationRules here apply mesh-wide (Istio: istio-system) */
  rootNamespace: string;
  trustDomain: string;
  /** DNS suffix of Kubernetes services */
  clusterDomain: string;
  outboundTrafficPolicy: OutboundTrafficMode;
  defaultServiceExportTo: ExportTo;
  defaultVirtualServiceExportTo: ExportTo;
  defaultDestinationRuleExportTo: ExportTo;
  telemetry: MeshTelemetry;
  /** Istio's auto mTLS: mTLS to endpoints labelled `security.istio.io/tlsMode: istio` unless a DestinationRule sets TLS */
  enableAutoMtls: boolean;
}

export const DEFAULT_MESH_OPTIONS: MeshOptions = Object.freeze({
  rootNamespace: 'istio-system',
  trustDomain: 'cluster.local',
  clusterDomain: 'cluster.local',
  outboundTrafficPolicy: 'ALLOW_ANY',
  defaultServiceExportTo: Object.freeze(['*']),
  defaultVirtualServiceExportTo: Object.freeze(['*']),
  defaultDestinationRuleExportTo: Object.freeze(['*']),
  telemetry: meshTelemetry(defaultMeshConfig()),
  enableAutoMtls: true,
});

export function meshOptions(partial: Partial<MeshOptions> = {}): MeshOptions {
  return Object.freeze({ ...DEFAULT_MESH_OPTIONS, ...partial });
}

/** The mesh options of a parsed MeshConfig (config/mesh/): the fields translation reads. */
export function meshOptionsFromMeshConfig(
  mc: Pick<MeshConfig, 'rootNamespace' | 'trustDomain' | 'outboundTrafficPolicy' | 'defaultServiceExportTo' | 'defaultVirtualServiceExportTo' | 'defaultDestinationRuleExportTo'> & Partial<MeshTelemetry>,
  clusterDomain = DEFAULT_MESH_OPTIONS.clusterDomain,
): MeshOptions {
  return meshOptions({
    rootNamespace: mc.rootNamespace,
    trustDomain: mc.trustDomain,
    clusterDomain,
    outboundTrafficPolicy: mc.outboundTrafficPolicy.mode,
    defaultServiceExportTo: Object.freeze([...mc.defaultServiceExportTo]),
    defaultVirtualServiceExportTo: Object.freeze([...mc.defaultVirtualServiceExportTo]),
    defaultDestinationRuleExportTo: Object.freeze([...mc.defaultDestinationRuleExportTo]),
    // a caller passing only the traffic fields keeps the telemetry defaults
    telemetry: meshTelemetry({ ...DEFAULT_MESH_OPTIONS.telemetry, ...mc }),
  });
}
