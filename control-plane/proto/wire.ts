/**
 * Every protobuf byte tandem writes or reads by hand, named. The hot paths build
 * DiscoveryResponses from resources encoded once (bytes shared by every stream)
 * and skim DiscoveryRequests without a full decode; the field numbers they use are
 * these, and a test checks each against the Envoy protos bundle.
 */

/** Wire type of strings, bytes and embedded messages (length-delimited). */
export const LENGTH_DELIMITED = 2;

/** The key of a length-delimited field: what precedes its length and bytes on the wire. */
export function lengthDelimitedKey(field: number): number {
  return (field << 3) | LENGTH_DELIMITED;
}

/** The field number in a field key. */
export function fieldOfKey(key: number): number {
  return key >>> 3;
}

/** Field numbers by message, as the protos define them. */
export const FIELDS = {
  'google.protobuf.Any': { type_url: 1, value: 2 },
  'envoy.service.discovery.v3.DiscoveryRequest': { version_info: 1, node: 2, resource_names: 3, type_url: 4, response_nonce: 5, error_detail: 6 },
  'envoy.service.discovery.v3.DiscoveryResponse': { version_info: 1, resources: 2, type_url: 4, nonce: 5 },
  'envoy.service.discovery.v3.DeltaDiscoveryResponse': { system_version_info: 1, resources: 2, type_url: 4, nonce: 5, removed_resources: 6 },
  'envoy.service.discovery.v3.Resource': { version: 1, resource: 2, name: 3 },
  'envoy.config.route.v3.RouteConfiguration': { virtual_hosts: 2 },
} as const;

export const ANY = FIELDS['google.protobuf.Any'];
export const DISCOVERY_REQUEST = FIELDS['envoy.service.discovery.v3.DiscoveryRequest'];
export const DISCOVERY_RESPONSE = FIELDS['envoy.service.discovery.v3.DiscoveryResponse'];
export const DELTA_DISCOVERY_RESPONSE = FIELDS['envoy.service.discovery.v3.DeltaDiscoveryResponse'];
export const RESOURCE = FIELDS['envoy.service.discovery.v3.Resource'];
export const ROUTE_CONFIGURATION = FIELDS['envoy.config.route.v3.RouteConfiguration'];
