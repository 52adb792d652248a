// MeshConfig parsing: expected values written by hand from Istio's documented defaults
// (pkg/config/mesh DefaultMeshConfig) and tandem's choices in config/README.md.
import t from 'tap';
import { UserError } from '../../../common/errors.js';
import { namespaceSelected } from '../../../config/mesh/discovery.js';
import { defaultMeshConfig, parseMeshConfig, type MeshConfig } from '../../../config/mesh/mesh-config.js';

const DEFAULTS: MeshConfig = {
  rootNamespace: 'tandem-system',
  trustDomain: 'cluster.local',
  outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
  discoverySelectors: [],
  defaultConfig: { holdApplicationUntilProxyStarts: false, terminationDrainSeconds: 5, concurrency: 2, proxyMetadata: {} },
  defaultServiceExportTo: ['*'],
  defaultVirtualServiceExportTo: ['*'],
  defaultDestinationRuleExportTo: ['*'],
  accessLogFile: '',
  accessLogEncoding: 'TEXT',
  accessLogFormat: '',
  enableTracing: true,
  extensionProviders: [
    { name: 'prometheus', kind: 'unsupported', type: 'prometheus' },
    { name: 'stackdriver', kind: 'unsupported', type: 'stackdriver' },
    { name: 'envoy', kind: 'envoyFileAccessLog', path: '/dev/stdout', text: undefined, labels: undefined },
  ],
  defaultProviders: { tracing: [], metrics: [], accessLogging: [] },
};

t.test('defaults: empty text, and an empty mapping', async (t) => {
  t.same(defaultMeshConfig(), DEFAULTS);
  t.same(parseMeshConfig('', 'mesh.yaml'), { mesh: DEFAULTS, warnings: [] });
  t.same(parseMeshConfig('{}\n', 'mesh.yaml'), { mesh: DEFAULTS, warnings: [] });
  t.same(parseMeshConfig('rootNamespace: null\n', 'mesh.yaml').mesh, DEFAULTS, 'null means unset, as in protobuf JSON');
});

t.test('a full valid mesh config (Istio format)', async (t) => {
  const text = `
rootNamespace: istio-system
trustDomain: example.org
outboundTrafficPolicy:
  mode: REGISTRY_ONLY
discoverySelectors:
- matchLabels: {mesh: "on"}
- matchExpressions:
  - {key: team, operator: In, values: [a, b]}
defaultConfig:
  holdApplicationUntilProxyStarts: true
  terminationDrainDuration: 1m30s
  proxyMetadata: {ISTIO_META_DNS_CAPTURE: "true"}
defaultServiceExportTo: ["."]
defaultVirtualServiceExportTo: ["*", "shop"]
defaultDestinationRuleExportTo: ["~"]
accessLogFile: /dev/stdout
accessLogEncoding: JSON
accessLogFormat: '{"start": "[%START_TIME%]", "method": "%REQ(:METHOD)%"}'
enableTracing: false
extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
- name: otel
  opentelemetry: {service: otel.obs.svc, port: "4317", maxTagLength: 100, http: {path: /v1/traces}}
- name: envoy
  envoyFileAccessLog:
    path: /dev/stderr
    logFormat: {labels: {method: "%REQ(:METHOD)%"}}
defaultProviders:
  tracing: [zipkin]
  accessLogging: [envoy]
`;
  const { mesh, warnings } = parseMeshConfig(text, 'mesh.yaml');
  t.same(mesh, {
    rootNamespace: 'istio-system',
    trustDomain: 'example.org',
    outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
    discoverySelectors: [{ matchLabels: { mesh: 'on' } }, { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] }],
    defaultConfig: { holdApplicationUntilProxyStarts: true, terminationDrainSeconds: 90, concurrency: 2, proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'true' } },
    defaultServiceExportTo: ['.'],
    defaultVirtualServiceExportTo: ['*', 'shop'],
    defaultDestinationRuleExportTo: ['~'],
    accessLogFile: '/dev/stdout',
    accessLogEncoding: 'JSON',
    accessLogFormat: '{"start": "[%START_TIME%]", "method": "%REQ(:METHOD)%"}',
    enableTracing: false,
    extensionProviders: [
      { name: 'prometheus', kind: 'unsupported', type: 'prometheus' },
      { name: 'stackdriver', kind: 'unsupported', type: 'stackdriver' },
      { name: 'envoy', kind: 'envoyFileAccessLog', path: '/dev/stderr', text: undefined, labels: { method: '%REQ(:METHOD)%' } },
      { name: 'zipkin', kind: 'zipkin', service: 'zipkin.istio-system.svc.cluster.local', port: 9411, maxTagLength: 256, enable64bitTraceId: false },
      { name: 'otel', kind: 'opentelemetry', service: 'otel.obs.svc', port: 4317, maxTagLength: 100, httpPath: '/v1/traces' },
    ],
    defaultProviders: { tracing: ['zipkin'], metrics: [], accessLogging: ['envoy'] },
  }, 'every field read; "envoy" replaces the default of that name, new providers appended');
  t.same(warnings, [], 'nothing to warn about');
});

t.test('unknown and not-honoured fields warn, naming source and path', async (t) => {
  const { mesh, warnings } = parseMeshConfig(
    `enableAutoMtls: true
madeUp: 1
outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: x}}
defaultConfig: {discoveryAddress: "x:15012"}
extensionProviders:
- name: authz
  envoyExtAuthzGrpc: {service: authz, port: 9000}
- name: z
  zipkin: {service: z, port: 9411, colour: red}
`,
    'cm',
  );
  t.same(warnings, [
    'cm: enableAutoMtls: has no effect in tandem',
    'cm: madeUp: unknown MeshConfig field, ignored',
    'cm: outboundTrafficPolicy.egressProxy: has no effect in tandem',
    'cm: defaultConfig: ProxyConfig field discoveryAddress has no effect in tandem (no pilot-agent)',
    'cm: extensionProviders[0].envoyExtAuthzGrpc: provider type envoyExtAuthzGrpc is not implemented by tandem; "authz" has no effect',
    'cm: extensionProviders[1].zipkin.colour: unknown field, ignored',
  ]);
  t.same(mesh.extensionProviders.slice(3), [
    { name: 'authz', kind: 'unsupported', type: 'envoyExtAuthzGrpc' },
    { name: 'z', kind: 'zipkin', service: 'z', port: 9411, maxTagLength: 256, enable64bitTraceId: false },
  ]);
});

const WRONG: Array<[string, string, RegExp]> = [
  ['rootNamespace: 7', 'a number', /^mesh\.yaml: rootNamespace: must be a string, got 7$/],
  ['rootNamespace: Istio_System', 'not a namespace name', /rootNamespace: must be a namespace name \(DNS-1123 label\), got "Istio_System"/],
  ['trustDomain: "a b"', 'bad trust domain', /trustDomain: must be a trust domain/],
  ['outboundTrafficPolicy: ALLOW_ANY', 'a string for a mapping', /outboundTrafficPolicy: must be a mapping, got "ALLOW_ANY"/],
  ['outboundTrafficPolicy: {mode: DENY}', 'bad enum', /outboundTrafficPolicy\.mode: must be one of ALLOW_ANY, REGISTRY_ONLY, got "DENY"/],
  ['discoverySelectors: {matchLabels: {a: b}}', 'not a list', /discoverySelectors: must be a list of label selectors/],
  ['discoverySelectors: [{matchLabels: {a: 1}}]', 'label value not a string', /discoverySelectors\[0\]: matchLabels\.a must be a string/],
  ['discoverySelectors: [{matchExpressions: [{key: a, operator: Like}]}]', 'bad operator', /discoverySelectors\[0\]: matchExpressions\[0\]\.operator must be one of In, NotIn, Exists, DoesNotExist/],
  ['defaultConfig: {concurrency: -1}', 'ProxyConfig value', /defaultConfig: concurrency must be an integer 0-1024, got -1/],
  ['defaultConfig: {terminationDrainDuration: soon}', 'ProxyConfig duration', /defaultConfig: terminationDrainDuration "soon" is not a duration/],
  ['defaultServiceExportTo: "*"', 'a string for a list', /defaultServiceExportTo: must be a list of strings, got "\*"/],
  ['defaultVirtualServiceExportTo: ["*", 3]', 'list item type', /defaultVirtualServiceExportTo\[1\]: must be a string, got 3/],
  ['defaultDestinationRuleExportTo: ["Not_A_NS"]', 'bad exportTo', /defaultDestinationRuleExportTo\[0\]: must be "\*", "\." or a namespace name/],
  ['accessLogFile: [a]', 'list for string', /accessLogFile: must be a string, got \["a"\]/],
  ['accessLogEncoding: XML', 'bad encoding', /accessLogEncoding: must be one of TEXT, JSON, got "XML"/],
  ['enableTracing: "yes"', 'string for bool', /enableTracing: must be true or false, got "yes"/],
  ['extensionProviders: [{name: z, zipkin: {port: 9411}}]', 'missing service', /extensionProviders\[0\]\.zipkin\.service: is required/],
  ['extensionProviders: [{name: z, zipkin: {service: z, port: 70000}}]', 'bad port', /extensionProviders\[0\]\.zipkin\.port: must be a port number 1-65535, got 70000/],
  ['extensionProviders: [{name: z, zipkin: {service: z, port: 1}, opentelemetry: {service: z, port: 1}}]', 'two types', /extensionProviders\[0\]: must set exactly one provider type besides name, got zipkin, opentelemetry/],
  ['extensionProviders: [{name: a, zipkin: {service: z, port: 1}}, {name: a, zipkin: {service: z, port: 1}}]', 'duplicate name', /extensionProviders\[1\]\.name: duplicate provider name "a"/],
  ['extensionProviders: [{zipkin: {service: z, port: 1}}]', 'no name', /extensionProviders\[0\]\.name: must be a non-empty string/],
  ['extensionProviders: [{name: e, envoyFileAccessLog: {logFormat: {text: a, labels: {}}}}]', 'text and labels', /extensionProviders\[0\]\.envoyFileAccessLog\.logFormat: sets both text and labels/],
  ['defaultProviders: {tracing: [nope]}', 'unknown provider name', /defaultProviders\.tracing\[0\]: names no extension provider \(known: prometheus, stackdriver, envoy\), got "nope"/],
  ['[1, 2]', 'not a mapping', /^mesh\.yaml: must be a mapping of MeshConfig fields$/],
  ['a: [', 'not YAML', /^mesh\.yaml: not YAML: /],
];

t.test('wrong types and values are refused with the source and the field path', async (t) => {
  for (const [text, what, message] of WRONG) {
    t.throws(() => parseMeshConfig(text, 'mesh.yaml'), message, what);
    t.throws(() => parseMeshConfig(text, 'mesh.yaml'), UserError, `${what}: a UserError`);
  }
  t.throws(() => parseMeshConfig('enableTracing: 1\naccessLogEncoding: XML\n', 'm'), { message: 'm: enableTracing: must be true or false, got 1; accessLogEncoding: must be one of TEXT, JSON, got "XML"' }, 'every problem at once');
});

t.test('namespaceSelected: no selectors = all; OR across selectors; AND within one', async (t) => {
  t.ok(namespaceSelected({ discoverySelectors: [] }, undefined));
  const mesh = { discoverySelectors: [{ matchLabels: { a: '1', b: '2' } }, { matchExpressions: [{ key: 'c', operator: 'Exists' as const }] }] };
  t.ok(namespaceSelected(mesh, { a: '1', b: '2' }));
  t.notOk(namespaceSelected(mesh, { a: '1' }), 'matchLabels entries are ANDed');
  t.ok(namespaceSelected(mesh, { c: '' }), 'the second selector');
  t.notOk(namespaceSelected(mesh, {}));
  t.ok(namespaceSelected({ discoverySelectors: [{}] }, {}), 'an empty selector matches everything');
  t.notOk(namespaceSelected({ discoverySelectors: [{ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }] }, { env: 'prod' }));
});
