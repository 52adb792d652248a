import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';

/**
 * Envoy's own protos, as shipped inside @grpc/grpc-js-xds (deps/). Loaded once per
 * process with the original field names (snake_case), which is what Envoy's
 * JSON/YAML config uses and what the xDS wire messages carry.
 */
const ENTRY_FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  // the sidecar's 15020 listener: metrics merge and gRPC probes (Lua), TCP probes (health_check)
  'envoy/extensions/filters/http/lua/v3/lua.proto',
  'envoy/extensions/filters/http/health_check/v3/health_check.proto',
];

function includeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const xdsDir = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const pbDir = path.dirname(require.resolve('protobufjs/package.json'));
  const deps = path.join(xdsDir, 'deps');
  return [
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    // google/protobuf/descriptor.proto and friends
    pbDir,
  ];
}

let cached: protobuf.Root | undefined;

export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    for (const d of dirs) {
      const p = path.join(d, target);
      if (existsSync(p)) return p;
    }
    return target;
  };
  root.loadSync(ENTRY_FILES, { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}

/** Looks up a message type by full name (with or without the leading dot). */
export function messageType(name: string): protobuf.Type {
  return envoyRoot().lookupType(name.startsWith('.') ? name.slice(1) : name);
}

export const TYPE_PREFIX = 'type.googleapis.com/';
