import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/**
 * Generates `envoy-protos.json`: protobufjs' `Root.toJSON()` of exactly the Envoy
 * messages tandem encodes, checks or decodes (and what they import), read from the
 * .proto files @grpc/grpc-js-xds vendors under `deps/`. That package is a
 * devDependency: the runtime loads the committed bundle, never another package's
 * internal folders. `npm run gen:envoy-protos` rewrites the file; a test regenerates
 * it in memory and fails when the committed one differs.
 */

/** The protos tandem uses: entry points whose imports are pulled in transitively. */
export const ENTRY_FILES: readonly string[] = [
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
  // what the Istio translation (xds/translate/istio/) references: fault, CORS, TLS inspector, retry predicates
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  // observability (xds/translate/istio/access-log.ts, tracing.ts): file access log, its CEL filter, Zipkin and OpenTelemetry tracers
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/filters/cel/v3/cel.proto',
  'envoy/config/trace/v3/zipkin.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  // AuthorizationPolicy (xds/translate/istio/authz/): RBAC as an HTTP filter and as a network filter
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/config/rbac/v3/rbac.proto',
  // AuthorizationPolicy paths with `{*}` / `{**}` templates (RBAC's uri_template permission)
  'envoy/extensions/path/match/uri_template/v3/uri_template_match.proto',
];

export const BUNDLE_FILE = fileURLToPath(new URL('./envoy-protos.json', import.meta.url));

function includeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return [
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    // google/protobuf/descriptor.proto and friends
    path.dirname(require.resolve('protobufjs/package.json')),
  ];
}

/** Parses the .proto files (original field names, as Envoy's JSON and the wire use) and returns the bundle's JSON text. */
export function generateBundle(): string {
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => dirs.map((d) => path.join(d, target)).find((p) => existsSync(p)) ?? target;
  root.loadSync([...ENTRY_FILES], { keepCase: true });
  root.resolveAll();
  return JSON.stringify(root.toJSON()) + '\n';
}

async function main(): Promise<void> {
  const text = generateBundle();
  // the compiled script runs from dist/: write the source tree's file, which the build copies
  const target = BUNDLE_FILE.replace(`${path.sep}dist${path.sep}`, path.sep);
  await writeFile(target, text);
  process.stdout.write(`${target}: ${text.length} bytes\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
