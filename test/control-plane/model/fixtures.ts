/** Small builders for model tests: config objects as a store would hand them over (already validated). */
import type { KindSpecs } from '../../../config/kinds.js';
import type { ConfigObject } from '../../../config/model.js';
import type { Service } from '../../../control-plane/registry/types.js';

let clock = 0;

/** A config object; each call is one second younger than the previous, so creation order is call order. */
export function obj<K extends keyof KindSpecs>(kind: K, namespace: string, name: string, spec: KindSpecs[K], extra: { labels?: Record<string, string> } = {}): ConfigObject {
  clock += 1;
  const group = kind === 'PeerAuthentication' || kind === 'AuthorizationPolicy' || kind === 'RequestAuthentication' ? 'security.istio.io' : 'networking.istio.io';
  return {
    apiVersion: `${group}/v1`,
    kind,
    metadata: { name, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, clock)).toISOString(), ...extra },
    spec: spec as unknown as Record<string, unknown>,
  };
}

export function svc(name: string, namespace: string, port = 8080, labels: Record<string, string> = {}): Service {
  return { name, namespace, addresses: [], ports: [{ name: 'http', port, protocol: 'HTTP', endpoints: [{ address: `10.${namespace.length}.0.${name.length}`, port, labels }] }] };
}
