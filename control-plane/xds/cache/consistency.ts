import { decodeToJson } from '../../proto/decode.js';
import { isObject } from '../../../common/objects.js';
import { MESSAGE_TYPES, type Json, type XdsType } from '../translate/common.js';
import type { ProxyInfo } from '../proxy.js';
import type { ProxyInput } from '../translate/generators.js';
import type { Generation } from './generation.js';
import type { ResourceMap } from './resource.js';

/**
 * The check go-control-plane's `Snapshot.Consistent` makes, for what one proxy is
 * sent: every EDS name a cluster refers to is a ClusterLoadAssignment the proxy can
 * get, and every RDS name a listener refers to is a RouteConfiguration it can get.
 * A proxy missing either waits forever (Envoy's cluster or listener warming). Used
 * by tests over several registries, and as a debug assertion of the server.
 */

export interface Inconsistency {
  /** the referring resource */
  type: 'cluster' | 'listener';
  resource: string;
  /** the missing one */
  missing: 'endpoint' | 'route';
  name: string;
}

/** The EDS service name an EDS cluster asks for (its own name when unset). */
export function edsNames(cluster: Json): string[] {
  if (cluster['type'] !== 'EDS') return [];
  const cfg = isObject(cluster['eds_cluster_config']) ? cluster['eds_cluster_config'] : {};
  const service = typeof cfg['service_name'] === 'string' && cfg['service_name'] !== '' ? cfg['service_name'] : cluster['name'];
  return [String(service)];
}

/** Every RDS route configuration name an HTTP connection manager inside `listener` asks for. */
export function rdsNames(listener: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v)) {
      const rds = v['rds'];
      if (isObject(rds) && typeof rds['route_config_name'] === 'string') out.push(rds['route_config_name']);
      Object.values(v).forEach(walk);
    }
  };
  walk(listener);
  return out;
}

/** What a proxy may be sent, by type: a wildcard CDS/LDS set and everything it could subscribe to of EDS/RDS. */
export type ProxyResources = Readonly<Record<XdsType, ResourceMap>>;

export function inconsistencies(sent: ProxyResources): Inconsistency[] {
  const out: Inconsistency[] = [];
  for (const r of sent.cluster.values()) {
    for (const name of edsNames(decodeToJson(MESSAGE_TYPES.cluster, r.value) as Json)) {
      if (!sent.endpoint.has(name)) out.push({ type: 'cluster', resource: r.name, missing: 'endpoint', name });
    }
  }
  for (const r of sent.listener.values()) {
    for (const name of rdsNames(decodeToJson(MESSAGE_TYPES.listener, r.value))) {
      if (!sent.route.has(name)) out.push({ type: 'listener', resource: r.name, missing: 'route', name });
    }
  }
  return out;
}

/** Everything `proxy` can get from `gen`: global resources and its own view. */
export function proxyResources(gen: Generation, proxy: Pick<ProxyInfo, ProxyInput>): ProxyResources {
  const view = gen.view(proxy);
  const all = (t: XdsType): ResourceMap => new Map([...gen.global[t], ...view[t]]);
  return { cluster: all('cluster'), endpoint: all('endpoint'), listener: all('listener'), route: all('route') };
}
