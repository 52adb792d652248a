/**
 * Envoy access logs (`envoy.access_loggers.file`) from the mesh config's `accessLogFile` /
 * `accessLogEncoding` / `accessLogFormat` and from `envoyFileAccessLog` extension providers, in
 * Istio's formats. Pure: which providers apply to a proxy is decided in telemetry.ts.
 */
import { jsonFormatProblem, type EnvoyFileAccessLogProvider } from '../../../../config/mesh/mesh-config.js';
import type { MeshTelemetry } from '../../../model/options.js';
import { T, type Json } from './envoy.js';

export const FILE_ACCESS_LOG = 'envoy.access_loggers.file';
export const FILE_ACCESS_LOG_TYPE = `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`;
export const CEL_FILTER = 'envoy.access_loggers.extension_filters.cel';
export const CEL_FILTER_TYPE = `${T}envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter`;
const DEV_STDOUT = '/dev/stdout';

/** Istio's default text format (the same operators, in the same order, as istiod emits). */
export const ISTIO_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** Istio's default JSON labels (used when the encoding is JSON and no format or labels are given). */
export const ISTIO_JSON_LABELS: Readonly<Record<string, string>> = Object.freeze({
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER_RAW%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
});

/** Istio appends the newline a text format lacks; an empty format is Istio's default. */
function textFormat(format: string | undefined): string {
  if (!format) return ISTIO_TEXT_FORMAT;
  return format.endsWith('\n') ? format : `${format}\n`;
}

function textLog(path: string, format: string | undefined): Json {
  return { path, log_format: { text_format_source: { inline_string: textFormat(format) } } };
}

function jsonLog(path: string, labels: Readonly<Record<string, unknown>> | undefined): Json {
  const fields = labels && Object.keys(labels).length > 0 ? labels : ISTIO_JSON_LABELS;
  // Istio keeps the labels in the order given (sort_properties false)
  return { path, log_format: { json_format: { ...fields }, json_format_options: { sort_properties: false } } };
}

function fileAccessLog(config: Json): Json {
  return { name: FILE_ACCESS_LOG, typed_config: { '@type': FILE_ACCESS_LOG_TYPE, ...config } };
}

/**
 * The mesh config's access log to `path` (`accessLogFile`, or the built-in `envoy` provider's path):
 * TEXT with `accessLogFormat` or Istio's default, JSON with `accessLogFormat` (a JSON object) or
 * Istio's default labels.
 */
export function meshConfigAccessLog(path: string, mesh: MeshTelemetry): Json {
  if (mesh.accessLogEncoding === 'JSON') {
    // an unusable format was warned about when the mesh config was parsed; Istio then uses its default labels
    const labels = mesh.accessLogFormat && !jsonFormatProblem(mesh.accessLogFormat) ? (JSON.parse(mesh.accessLogFormat) as Record<string, unknown>) : undefined;
    return fileAccessLog(jsonLog(path, labels));
  }
  return fileAccessLog(textLog(path, mesh.accessLogFormat));
}

/**
 * An `envoyFileAccessLog` provider's access log. Istio's rule: the built-in provider `envoy` without a
 * `logFormat` follows the mesh config's encoding and format; any other writes its own format (text,
 * labels, or Istio's default text) to its path (`/dev/stdout` when empty).
 */
export function providerAccessLog(p: EnvoyFileAccessLogProvider, mesh: MeshTelemetry): Json {
  if (p.name === 'envoy' && p.text === undefined && p.labels === undefined) return meshConfigAccessLog(p.path, mesh);
  const path = p.path || DEV_STDOUT;
  if (p.labels !== undefined) return fileAccessLog(jsonLog(path, p.labels));
  return fileAccessLog(textLog(path, p.text));
}

/** Telemetry `filter.expression` (CEL, as Istio passes it) as Envoy's CEL access-log filter. */
export function celFilter(expression: string): Json {
  return { extension_filter: { name: CEL_FILTER, typed_config: { '@type': CEL_FILTER_TYPE, expression } } };
}

/** Istio's listener access-log filter: only connections no filter chain took (response flag NR). */
export const NO_ROUTE_FILTER: Json = Object.freeze({ response_flag_filter: { flags: ['NR'] } });

/** An access log with the filters that must all hold (none, one, or an and_filter), as Istio combines them. */
export function withFilters(log: Json, filters: readonly Json[]): Json {
  if (filters.length === 0) return log;
  return { ...log, filter: filters.length === 1 ? filters[0] : { and_filter: { filters: [...filters] } } };
}
