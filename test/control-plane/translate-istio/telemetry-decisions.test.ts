/**
 * Which access-log providers and which tracer apply to a sidecar, for the Telemetry API's scoping
 * (root namespace, proxy namespace, workload selector) and merge rules. The access-log rows are the
 * sidecar rows of Istio's own table (pilot/pkg/model/telemetry_logging_test.go TestAccessLogging:
 * same Telemetry objects, same expected provider lists), rewritten as YAML; gateway and waypoint
 * rows are left out (tandem translates sidecars). Every Telemetry object also passes the validator.
 */
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseMeshConfig } from '../../../config/mesh/mesh-config.js';
import type { ConfigObject } from '../../../config/model.js';
import { validateConfig } from '../../../config/validation/validate.js';
import { meshOptionsFromMeshConfig } from '../../../control-plane/model/options.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import { telemetryAccessLogs } from '../../../control-plane/xds/translate/istio/telemetry-listener.js';
import { applicableTelemetries, tracingDecision, type WorkloadMode } from '../../../control-plane/xds/translate/istio/telemetry.js';
import { registry } from './registry.js';

const MESH = `
rootNamespace: istio-system
extensionProviders:
- name: envoy-json
  envoyFileAccessLog: {path: /dev/stdout, logFormat: {labels: {code: "%RESPONSE_CODE%"}}}
- name: zipkin
  zipkin: {service: reviews.shop.svc.cluster.local, port: 9080}
- name: otel
  opentelemetry: {service: ratings.shop.svc.cluster.local, port: 7070}
`;

// Istio's test Telemetry specs, by the names its table uses
const SPECS: Record<string, string> = {
  envoy: '{accessLogging: [{providers: [{name: envoy}]}]}',
  prometheus: '{metrics: [{providers: [{name: prometheus}]}]}',
  client: '{accessLogging: [{match: {mode: CLIENT}, providers: [{name: envoy}]}]}',
  clientDisabled: '{accessLogging: [{match: {mode: CLIENT}, providers: [{name: envoy}], disabled: true}]}',
  sidecarClient: '{selector: {matchLabels: {app: test}}, accessLogging: [{match: {mode: CLIENT}, providers: [{name: envoy}]}]}',
  server: '{accessLogging: [{match: {mode: SERVER}, providers: [{name: envoy}]}]}',
  serverDisabled: '{accessLogging: [{match: {mode: SERVER}, providers: [{name: envoy}], disabled: true}]}',
  serverAndClient: '{accessLogging: [{match: {mode: CLIENT_AND_SERVER}, providers: [{name: envoy}]}]}',
  stackdriver: '{accessLogging: [{providers: [{name: stackdriver}]}]}',
  empty: '{accessLogging: [{}]}',
  defaultJSON: '{accessLogging: [{providers: [{name: envoy-json}]}]}',
  disabled: '{accessLogging: [{disabled: true}]}',
  nonExistent: '{accessLogging: [{providers: [{name: custom-provider}]}]}',
  multiAccessLogging: '{accessLogging: [{providers: [{name: envoy}]}, {providers: [{name: envoy-json}]}]}',
  multiAccessLoggingWithDisabled: '{accessLogging: [{providers: [{name: envoy}]}, {providers: [{name: envoy-json}], disabled: true}]}',
  multiAccessLoggingAndProviders: '{accessLogging: [{providers: [{name: envoy}, {name: envoy-json}]}, {providers: [{name: envoy}]}]}',
  multiFilters: `{accessLogging: [{match: {mode: SERVER}, providers: [{name: envoy}], filter: {expression: "response.code >= 500"}},
                                  {match: {mode: CLIENT_AND_SERVER}, providers: [{name: envoy}], filter: {expression: "response.code >= 400"}}]}`,
  multiFiltersDisabled: `{accessLogging: [{match: {mode: SERVER}, providers: [{name: envoy}], filter: {expression: "response.code >= 500"}},
                                          {match: {mode: CLIENT_AND_SERVER}, providers: [{name: envoy}], disabled: true}]}`,
  serverAndClientDifferent: '{accessLogging: [{match: {mode: SERVER}, providers: [{name: envoy}]}, {match: {mode: CLIENT}, providers: [{name: envoy-json}]}]}',
  // not in Istio's table: the same selector on another workload, and an object attached by targetRef (gateways only)
  otherWorkload: '{selector: {matchLabels: {app: other}}, accessLogging: [{providers: [{name: envoy-json}]}]}',
  targetRef: '{targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}, accessLogging: [{providers: [{name: envoy-json}]}]}',
};

let created = 0;
function telemetry(ns: string, spec: string): ConfigObject {
  const name = `t${created++}`;
  // creation order is the list order, as in Istio's table
  const doc = parseAllDocuments(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "2026-01-01T00:00:${String(created).padStart(2, '0')}Z"}
spec: ${SPECS[spec] ?? `<unknown spec ${spec}>`}
`)[0]!.toJSON() as ConfigObject;
  return doc;
}

const proxy = { namespace: 'default', labels: { app: 'test' } };

function snapshotOf(configs: ConfigObject[], defaultProviders: string[] = [], tracing: string[] = []): ReturnType<typeof buildMeshSnapshot> {
  const mesh = parseMeshConfig(`${MESH}\ndefaultProviders: {accessLogging: ${JSON.stringify(defaultProviders)}, tracing: ${JSON.stringify(tracing)}}\n`, 'mesh').mesh;
  return buildMeshSnapshot({ registry, configs, options: meshOptionsFromMeshConfig(mesh) });
}

// [name, Telemetry objects as [namespace, spec], mode, default providers, expected providers (undefined: the mesh config decides)]
type Row = [string, [string, string][], WorkloadMode, string[], string[] | undefined];
const rows: Row[] = [
  ['empty', [], 'CLIENT', [], undefined],
  ['prometheus-mesh', [['istio-system', 'prometheus']], 'CLIENT', [], undefined],
  ['prometheus-namespace', [['default', 'prometheus']], 'CLIENT', [], undefined],
  ['default provider only', [], 'CLIENT', ['envoy'], ['envoy']],
  ['provider only', [['istio-system', 'envoy']], 'CLIENT', [], ['envoy']],
  ['client - outbound', [['istio-system', 'client']], 'CLIENT', [], ['envoy']],
  ['client - inbound', [['istio-system', 'client']], 'SERVER', [], []],
  ['client - disabled server', [['istio-system', 'client'], ['default', 'serverDisabled']], 'CLIENT', [], ['envoy']],
  ['client - disabled client', [['istio-system', 'client'], ['default', 'clientDisabled']], 'CLIENT', [], []],
  ['client - disabled - enabled', [['istio-system', 'client'], ['default', 'clientDisabled'], ['default', 'sidecarClient']], 'CLIENT', [], ['envoy']],
  ['server - inbound', [['istio-system', 'server']], 'SERVER', [], ['envoy']],
  ['server - outbound', [['istio-system', 'server']], 'CLIENT', [], []],
  ['server and client - inbound', [['istio-system', 'serverAndClient']], 'SERVER', [], ['envoy']],
  ['server and client - outbound', [['istio-system', 'serverAndClient']], 'CLIENT', [], ['envoy']],
  ['override default', [['istio-system', 'envoy']], 'CLIENT', ['stackdriver'], ['envoy']],
  ['override namespace', [['istio-system', 'envoy'], ['default', 'defaultJSON']], 'CLIENT', [], ['envoy-json']],
  ['empty config inherits', [['istio-system', 'envoy'], ['default', 'empty']], 'CLIENT', [], ['envoy']],
  ['stackdriver', [['istio-system', 'envoy'], ['default', 'stackdriver']], 'CLIENT', [], []],
  ['default envoy JSON', [['istio-system', 'defaultJSON']], 'CLIENT', [], ['envoy-json']],
  ['disable config', [['istio-system', 'envoy'], ['default', 'disabled']], 'CLIENT', [], []],
  ['disable default', [['default', 'disabled']], 'CLIENT', ['envoy'], []],
  ['non existing', [['default', 'nonExistent']], 'CLIENT', ['envoy'], []],
  ['server - multi filters', [['istio-system', 'multiFilters']], 'CLIENT', [], ['envoy']],
  ['server - multi filters disabled', [['istio-system', 'multiFiltersDisabled']], 'CLIENT', [], []],
  ['multi accesslogging', [['istio-system', 'envoy'], ['default', 'multiAccessLogging']], 'CLIENT', [], ['envoy', 'envoy-json']],
  ['multi accesslogging with disabled', [['istio-system', 'envoy'], ['default', 'multiAccessLoggingWithDisabled']], 'CLIENT', [], ['envoy']],
  ['multi accesslogging - multi providers', [['istio-system', 'envoy'], ['default', 'multiAccessLoggingAndProviders']], 'CLIENT', [], ['envoy', 'envoy-json']],
  ['server and client different - inbound', [['istio-system', 'serverAndClientDifferent']], 'SERVER', [], ['envoy']],
  ['server and client different - outbound', [['istio-system', 'serverAndClientDifferent']], 'CLIENT', [], ['envoy-json']],
  // tandem's own rows: a selector for another workload and a targetRef do not apply to this sidecar
  ['selector of another workload', [['istio-system', 'envoy'], ['default', 'otherWorkload']], 'CLIENT', [], ['envoy']],
  ['targetRef is for gateways', [['istio-system', 'envoy'], ['default', 'targetRef']], 'CLIENT', [], ['envoy']],
  ['a workload object in the root namespace does not reach other namespaces', [['istio-system', 'sidecarClient']], 'CLIENT', [], undefined],
];

t.test('access-log providers per Istio\'s table', async (t) => {
  for (const [name, objs, mode, defaults, want] of rows) {
    const configs = objs.map(([ns, spec]) => telemetry(ns, spec));
    for (const c of configs) t.same(validateConfig(c).problems, [], `${name}: ${c.metadata.name} is valid`);
    const logs = telemetryAccessLogs(snapshotOf(configs, defaults), proxy, mode);
    t.same(logs?.map((l) => l.provider), want, name);
  }
});

t.test('the filter kept is the one given last with the provider (Istio: "pickup last filter")', async (t) => {
  const logs = telemetryAccessLogs(snapshotOf([telemetry('istio-system', 'multiFilters')]), proxy, 'SERVER');
  t.same(logs?.map((l) => l.filter), [{ extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', expression: 'response.code >= 400' } } }]);
});

t.test('tracing: default provider, overridden per level and mode; no provider, no tracing', async (t) => {
  const tel = (ns: string, yaml: string, selector = ''): ConfigObject =>
    parseAllDocuments(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t${created++}, namespace: ${ns}, creationTimestamp: "2026-01-02T00:00:${String(created).padStart(2, '0')}Z"}
spec: {${selector}tracing: ${yaml}}
`)[0]!.toJSON() as ConfigObject;
  const decide = (configs: ConfigObject[], mode: WorkloadMode, defaults: string[] = []): unknown => {
    for (const c of configs) t.same(validateConfig(c).problems, [], `${c.metadata.name} is valid`);
    const s = snapshotOf(configs, [], defaults);
    const d = tracingDecision(applicableTelemetries(s, proxy), s.options.telemetry, mode);
    return d && { provider: d.provider?.name, disabled: d.disabled, pct: d.randomSamplingPercentage, tags: d.customTags };
  };
  t.equal(decide([], 'CLIENT'), undefined, 'nothing configured: no tracing');
  t.same(decide([], 'CLIENT', ['zipkin']), { provider: 'zipkin', disabled: false, pct: undefined, tags: undefined }, 'the first default provider');
  t.same(decide([tel('istio-system', '[{randomSamplingPercentage: 10}]')], 'CLIENT', ['zipkin']), { provider: 'zipkin', disabled: false, pct: 10, tags: undefined }, 'a mesh-wide percentage keeps the default provider');
  t.same(
    decide([tel('istio-system', '[{providers: [{name: zipkin}], randomSamplingPercentage: 10}]'), tel('default', '[{providers: [{name: otel}]}]')], 'CLIENT'),
    { provider: 'otel', disabled: false, pct: 10, tags: undefined },
    'the namespace changes the provider; the percentage is inherited',
  );
  t.same(
    decide([tel('istio-system', '[{providers: [{name: zipkin}]}]'), tel('default', '[{match: {mode: CLIENT}, disableSpanReporting: true}]', 'selector: {matchLabels: {app: test}}, ')], 'CLIENT'),
    { provider: 'zipkin', disabled: true, pct: undefined, tags: undefined },
    'a workload switches client spans off',
  );
  t.same(
    decide([tel('istio-system', '[{providers: [{name: zipkin}]}]'), tel('default', '[{match: {mode: SERVER}, disableSpanReporting: true}]')], 'CLIENT'),
    { provider: 'zipkin', disabled: false, pct: undefined, tags: undefined },
    'a SERVER entry does not touch the client side',
  );
  t.same(decide([tel('istio-system', '[{providers: [{name: nowhere}]}]')], 'CLIENT'), { provider: undefined, disabled: true, pct: undefined, tags: undefined }, 'an unknown provider disables tracing');
});

t.test('filter.expression must parse as CEL (Istio\'s TestValidateTelemetryFilter vectors)', async (t) => {
  const withFilter = (expression: string): ConfigObject =>
    ({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'f', namespace: 'default' }, spec: { accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression } }] } }) as unknown as ConfigObject;
  for (const ok of ['response.code >= 400', "connection.mtls && request.url_path.contains('v1beta3')", 'response.code']) t.same(validateConfig(withFilter(ok)).problems, [], `valid: ${ok}`);
  const problems = validateConfig(withFilter(')++++')).problems.map((p) => `${p.path}: ${p.message}`);
  t.equal(problems.length, 1, 'invalid: )++++');
  t.match(problems[0], /^spec\.accessLogging\[0\]\.filter\.expression: must be a valid CEL expression: /, 'named by its field');
});
