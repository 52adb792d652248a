import type { Service, ServicePort } from '../../registry/types.js';
import {
  ADS,
  INBOUND_PASSTHROUGH_CLUSTER,
  inboundClusterName,
  outboundClusterName,
  PASSTHROUGH_CLUSTER,
  serviceHost,
  TYPE_URL_PREFIX,
  type Json,
  type TranslateOptions,
} from './common.js';

/** Clusters (CDS), pure. */

const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** The EDS cluster of one service port. */
export function serviceCluster(s: Service, p: ServicePort, o: TranslateOptions): Json {
  const name = outboundClusterName(p.port, serviceHost(s, o));
  const c: Json = {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS, service_name: name },
    connect_timeout: '10s',
    lb_policy: 'ROUND_ROBIN',
  };
  if (p.protocol === 'GRPC' || p.protocol === 'HTTP2') {
    c['typed_extension_protocol_options'] = {
      [HTTP_OPTIONS]: { '@type': TYPE_URL_PREFIX + HTTP_OPTIONS, explicit_http_config: { http2_protocol_options: {} } },
    };
  }
  return c;
}

/** Clusters every sidecar gets besides the services: passthrough for unknown destinations, both ways. */
export function passthroughClusters(): Json[] {
  return [
    { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', connect_timeout: '10s', lb_policy: 'CLUSTER_PROVIDED' },
    {
      name: INBOUND_PASSTHROUGH_CLUSTER,
      type: 'ORIGINAL_DST',
      connect_timeout: '10s',
      lb_policy: 'CLUSTER_PROVIDED',
      // 127.0.0.6 is the source the capture rules let through without redirecting back to 15006
      upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } },
    },
  ];
}

/** Per-pod static clusters: inbound traffic for a declared app port goes to 127.0.0.1:<port>. */
export function inboundClusters(appPorts: readonly number[]): Json[] {
  return [...new Set(appPorts)]
    .sort((a, b) => a - b)
    .map((port) => ({
      name: inboundClusterName(port),
      type: 'STATIC',
      connect_timeout: '10s',
      load_assignment: {
        cluster_name: inboundClusterName(port),
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
      },
    }));
}
