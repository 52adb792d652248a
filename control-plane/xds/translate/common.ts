import type { Service, ServicePort } from '../../registry/types.js';

/**
 * What every translation module shares: the JSON form, the options, the xDS types
 * and their messages, and Istio's resource names (so that dashboards and
 * `istioctl`-style habits carry over): clusters `outbound|<port>||<fqdn>` and
 * `inbound|<port>||`, listeners `virtualOutbound`/`virtualInbound`, route
 * configurations named by port, API listeners `<fqdn>:<port>` for proxyless gRPC.
 */

/** A resource (or part of one) as proto3 JSON, the form Envoy reads from files. */
export type Json = Record<string, unknown>;

export interface TranslateOptions {
  /** DNS suffix, default cluster.local */
  clusterDomain: string;
}

export const DEFAULT_TRANSLATE_OPTIONS: TranslateOptions = { clusterDomain: 'cluster.local' };

export type XdsType = 'cluster' | 'endpoint' | 'listener' | 'route';

/** The Envoy message each type's translation produces. */
export const MESSAGE_TYPES: Readonly<Record<XdsType, string>> = {
  cluster: 'envoy.config.cluster.v3.Cluster',
  endpoint: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'envoy.config.listener.v3.Listener',
  route: 'envoy.config.route.v3.RouteConfiguration',
};

export const OUTBOUND_LISTENER = 'virtualOutbound';
export const INBOUND_LISTENER = 'virtualInbound';
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15006;
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** Config source of every dynamic resource: the ADS stream the proxy already has. */
export const ADS = { ads: {}, resource_api_version: 'V3' };

export function serviceHost(s: Pick<Service, 'name' | 'namespace'>, o: TranslateOptions): string {
  return `${s.name}.${s.namespace}.svc.${o.clusterDomain}`;
}

export function outboundClusterName(port: number, host: string): string {
  return `outbound|${port}||${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export function isHttp(p: Pick<ServicePort, 'protocol'>): boolean {
  return p.protocol !== 'TCP';
}

/** The resource's name: `cluster_name` for a ClusterLoadAssignment, `name` for the others. */
export function resourceName(type: XdsType, json: Json): string {
  return String(type === 'endpoint' ? json['cluster_name'] : json['name']);
}
