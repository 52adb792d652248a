/**
 * The Istio configuration model every part of config/ and control-plane/ shares: which kinds tandem
 * reads, the shape of a stored object, and the shape of a validation problem. Validation lives in
 * config/validation/, the sources in config/store/; both speak these types.
 */

/** The Istio kinds tandem stores (design.md, "Istio config contract"). */
export const CONFIG_KINDS = [
  { group: 'networking.istio.io', kind: 'VirtualService', plural: 'virtualservices' },
  { group: 'networking.istio.io', kind: 'DestinationRule', plural: 'destinationrules' },
  { group: 'networking.istio.io', kind: 'ServiceEntry', plural: 'serviceentries' },
  { group: 'networking.istio.io', kind: 'Sidecar', plural: 'sidecars' },
  { group: 'networking.istio.io', kind: 'Gateway', plural: 'gateways' },
  { group: 'security.istio.io', kind: 'PeerAuthentication', plural: 'peerauthentications' },
  { group: 'security.istio.io', kind: 'AuthorizationPolicy', plural: 'authorizationpolicies' },
  { group: 'security.istio.io', kind: 'RequestAuthentication', plural: 'requestauthentications' },
  { group: 'telemetry.istio.io', kind: 'Telemetry', plural: 'telemetries' },
] as const;

export type ConfigKind = (typeof CONFIG_KINDS)[number]['kind'];

/**
 * apiVersions accepted for every kind (the CRDs serve a subset per kind; the CRD schema decides), in
 * the order the Kubernetes store prefers them. v1alpha1: Telemetry's older version, still served.
 */
export const CONFIG_VERSIONS = ['v1', 'v1beta1', 'v1alpha3', 'v1alpha1'] as const;

export interface ConfigMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
}

/** A validated Istio object as stores hold it: `spec` is kind-specific and typed by config/kinds. */
export interface ConfigObject<S = Record<string, unknown>> {
  apiVersion: string;
  kind: ConfigKind;
  metadata: ConfigMeta;
  spec: S;
}

/** One problem found in an object: `path` is the field path (`spec.http[0].route[1].weight`). */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** `namespace/name` of a kind: the identity of an object within a store. */
export function configKey(o: { kind: string; metadata: { namespace: string; name: string } }): string {
  return `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
}
