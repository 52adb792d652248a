import t from 'tap';
import { validateConfig } from '../../../config/validation/validate.js';
import { VALID, object, withSpec, type Obj, type Spec } from './fixtures.js';

/**
 * Hand-written table: per kind, objects that must be refused, with the field path and message expected.
 * Messages follow Istio's wording (pkg/config/validation) or the apiserver's (structural schema, CEL).
 */

interface Case {
  name: string;
  kind: string;
  edit?: (spec: Spec) => void;
  doc?: Obj;
  path: string;
  message: string | RegExp;
}

const CASES: Case[] = [
  // ---- structural (the CRD schema, strict fields) ----
  { name: 'unknown field', kind: 'VirtualService', edit: (s) => (s.http[0].retry = { attempts: 1 }), path: 'spec.http[0].retry', message: 'unknown field' },
  { name: 'wrong type', kind: 'VirtualService', edit: (s) => (s.http[0].route[0].weight = '80'), path: 'spec.http[0].route[0].weight', message: 'Invalid value: "80": must be of type integer' },
  { name: 'enum', kind: 'DestinationRule', edit: (s) => (s.trafficPolicy.loadBalancer.simple = 'FASTEST'), path: 'spec.trafficPolicy.loadBalancer.simple', message: 'Unsupported value: "FASTEST": supported values: "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"' },
  { name: 'required', kind: 'VirtualService', edit: (s) => delete s.http[0].route[0].destination.host, path: 'spec.http[0].route[0].destination.host', message: 'Required value' },
  { name: 'oneOf', kind: 'VirtualService', edit: (s) => (s.http[0].match[0].uri = { prefix: '/a', exact: '/b' }), path: 'spec.http[0].match[0].uri', message: 'Invalid value: only one of exact, prefix, regex may be set' },
  { name: 'CEL on a port number', kind: 'ServiceEntry', edit: (s) => (s.ports[0].number = 70000), path: 'spec.ports[0].number', message: 'Invalid value: 70000: port must be between 1-65535' },
  { name: 'list-map key', kind: 'ServiceEntry', edit: (s) => s.ports.push({ number: 8443, name: 'https', protocol: 'TLS' }), path: 'spec.ports[1]', message: 'Duplicate value: {"name":"https"}' },
  { name: 'minItems', kind: 'ServiceEntry', edit: (s) => (s.hosts = []), path: 'spec.hosts', message: 'Invalid value: 0: should have at least 1 items' },
  { name: 'apiVersion not served', kind: 'Telemetry', doc: object('Telemetry', {}, 'telemetry.istio.io/v1beta1'), path: 'apiVersion', message: 'telemetry.istio.io/v1beta1 does not serve Telemetry (served versions: v1, v1alpha1)' },
  { name: 'bad name', kind: 'Gateway', doc: { ...VALID.Gateway, metadata: { name: 'Bad_Name', namespace: 'demo' } }, path: 'metadata.name', message: /must be a DNS-1123 subdomain/ },

  // ---- VirtualService ----
  { name: 'mesh-bound *', kind: 'VirtualService', edit: (s) => (s.hosts = ['*']), path: 'spec.hosts[0]', message: 'wildcard host * is not allowed for virtual services bound to the mesh gateway' },
  { name: 'bad host', kind: 'VirtualService', edit: (s) => (s.hosts = ['foo.*.com']), path: 'spec.hosts[0]', message: 'domain name "foo.*.com" invalid (label "*" invalid)' },
  { name: 'weights', kind: 'VirtualService', edit: (s) => (s.http[0].route[1].weight = 30), path: 'spec.http[0].route', message: 'total destination weight 110 != 100' },
  { name: 'retryOn', kind: 'VirtualService', edit: (s) => (s.http[0].retries.retryOn = '5xx,sometimes'), path: 'spec.http[0].retries.retryOn', message: '"sometimes" is not a valid retryOn policy' },
  { name: 'retries disabled', kind: 'VirtualService', edit: (s) => (s.http[0].retries.attempts = 0), path: 'spec.http[0].retries', message: 'http retry policy configured when attempts are set to 0 (disabled)' },
  { name: 'timeout unit', kind: 'VirtualService', edit: (s) => (s.http[0].timeout = '1.5ns'), path: 'spec.http[0].timeout', message: /duration/ },
  { name: 'regex RE2', kind: 'VirtualService', edit: (s) => (s.http[0].match[0].uri = { regex: '/v(?=2)' }), path: 'spec.http[0].match[0].uri.regex', message: /^invalid RE2 regex "\/v\(\?=2\)": .*\(\?=/ },
  { name: 'fault percentage', kind: 'VirtualService', edit: (s) => (s.http[0].fault = { abort: { httpStatus: 503, percentage: { value: 150 } } }), path: 'spec.http[0].fault.abort.percentage.value', message: 'percentage 150 must be in the range 0..100' },
  { name: 'redirect + route', kind: 'VirtualService', edit: (s) => (s.http[1].redirect = { uri: '/x' }), path: 'spec.http[1]', message: 'HTTP route cannot contain both route and redirect' },
  { name: 'rewrite + redirect', kind: 'VirtualService', edit: (s) => { s.http[1] = { redirect: { uri: '/x' }, rewrite: { uri: '/y' } }; }, path: 'spec.http[1]', message: 'HTTP route rule cannot contain both rewrite and redirect' },
  { name: 'no route', kind: 'VirtualService', edit: (s) => { s.http[1] = { timeout: '1s' }; }, path: 'spec.http[1]', message: 'HTTP route, redirect or directResponse is required' },
  { name: 'mirror', kind: 'VirtualService', edit: (s) => (s.http[1].mirror = { host: '*.example.com' }), path: 'spec.http[1].mirror.host', message: 'destination host "*.example.com" must not be a wildcard' },
  { name: 'header op', kind: 'VirtualService', edit: (s) => (s.http[1].headers = { response: { set: { ':status': '200' } } }), path: 'spec.http[1].headers.response.set[:status]', message: 'invalid header ":status": pseudo-headers and Host cannot be modified' },
  { name: 'cors method', kind: 'VirtualService', edit: (s) => (s.http[1].corsPolicy = { allowMethods: ['FETCH'] }), path: 'spec.http[1].corsPolicy.allowMethods[0]', message: 'not a valid HTTP method "FETCH"' },
  { name: 'delegate with gateways', kind: 'VirtualService', edit: (s) => { s.hosts = []; s.gateways = ['istio-system/gw']; }, path: 'spec.gateways', message: 'delegate virtual service must have no gateways specified' },
  { name: 'gateway name', kind: 'VirtualService', edit: (s) => (s.gateways = ['a/b/c']), path: 'spec.gateways[0]', message: 'invalid gateway name "a/b/c": at most one "/" (namespace/name)' },
  { name: 'tls route needs sni (CRD)', kind: 'VirtualService', edit: (s) => { s.tls = [{ match: [{ port: 443 }], route: [{ destination: { host: 'reviews' } }] }]; }, path: 'spec.tls[0].match[0].sniHosts', message: 'Required value' },
  { name: 'tls sni host', kind: 'VirtualService', edit: (s) => { s.tls = [{ match: [{ sniHosts: ['bad_host.example.com'] }], route: [{ destination: { host: 'reviews' } }] }]; }, path: 'spec.tls[0].match[0].sniHosts[0]', message: 'domain name "bad_host.example.com" invalid (label "bad_host" invalid)' },
  { name: 'exportTo', kind: 'VirtualService', edit: (s) => (s.exportTo = ['*', '.']), path: 'spec.exportTo', message: 'cannot have both public (*) and non-public exportTo values' },

  // ---- DestinationRule ----
  { name: 'subset name', kind: 'DestinationRule', edit: (s) => (s.subsets[0].name = 'V_1'), path: 'spec.subsets[0].name', message: 'subset name "V_1" must be a DNS-1123 label' },
  { name: 'duplicate subset', kind: 'DestinationRule', edit: (s) => (s.subsets[1].name = 'v1'), path: 'spec.subsets[1].name', message: 'duplicate subset name "v1"' },
  { name: 'empty traffic policy', kind: 'DestinationRule', edit: (s) => (s.subsets[0].trafficPolicy = {}), path: 'spec.subsets[0].trafficPolicy', message: 'traffic policy must have at least one field' },
  { name: 'outlier percent', kind: 'DestinationRule', edit: (s) => (s.trafficPolicy.outlierDetection = { maxEjectionPercent: 120 }), path: 'spec.trafficPolicy.outlierDetection.maxEjectionPercent', message: 'maxEjectionPercent must be in range [0, 100]' },
  { name: 'mutual tls', kind: 'DestinationRule', edit: (s) => (s.trafficPolicy.tls = { mode: 'MUTUAL', privateKey: '/k.pem' }), path: 'spec.trafficPolicy.tls.clientCertificate', message: 'client certificate required for mutual tls' },
  { name: 'port level', kind: 'DestinationRule', edit: (s) => (s.trafficPolicy.portLevelSettings = [{ loadBalancer: { simple: 'RANDOM' } }]), path: 'spec.trafficPolicy.portLevelSettings[0].port', message: 'port must be specified' },
  { name: 'cookie', kind: 'DestinationRule', edit: (s) => (s.trafficPolicy.loadBalancer = { consistentHash: { httpCookie: { ttl: '10s' } } }), path: 'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name', message: 'Required value' },
  { name: 'host', kind: 'DestinationRule', edit: (s) => (s.host = 'bad host'), path: 'spec.host', message: 'domain name "bad host" invalid (label "bad host" invalid)' },

  // ---- ServiceEntry ----
  { name: 'wildcard DNS without endpoints', kind: 'ServiceEntry', edit: (s) => (s.hosts = ['*.example.com']), path: 'spec.hosts[0]', message: 'wildcard host *.example.com is not allowed with DNS resolution without endpoints' },
  { name: 'address', kind: 'ServiceEntry', edit: (s) => (s.addresses = ['10.0.0.300']), path: 'spec.addresses[0]', message: 'invalid address 10.0.0.300: must be an IP address or CIDR' },
  { name: 'static without endpoints', kind: 'ServiceEntry', edit: (s) => (s.resolution = 'STATIC'), path: 'spec.endpoints', message: 'endpoints must be provided if service entry discovery mode is STATIC' },
  { name: 'endpoint port name', kind: 'ServiceEntry', edit: (s) => (s.endpoints = [{ address: 'api.example.com', ports: { http: 8080 } }]), path: 'spec.endpoints[0].ports[http]', message: 'endpoint port "http" is not defined by the service entry' },
  { name: 'protocol', kind: 'ServiceEntry', edit: (s) => (s.ports[0].protocol = 'SMTP'), path: 'spec.ports[0].protocol', message: 'unsupported protocol "SMTP"' },

  // ---- Sidecar ----
  { name: 'egress host without namespace', kind: 'Sidecar', edit: (s) => (s.egress[0].hosts = ['reviews.demo.svc.cluster.local']), path: 'spec.egress[0].hosts[0]', message: 'host "reviews.demo.svc.cluster.local" must be of the form namespace/dnsName' },
  { name: 'egress namespace', kind: 'Sidecar', edit: (s) => (s.egress[0].hosts = ['Bad_NS/*']), path: 'spec.egress[0].hosts[0]', message: 'invalid namespace "Bad_NS" in host "Bad_NS/*": must be "*", ".", "~" or a namespace name' },
  { name: 'empty sidecar', kind: 'Sidecar', edit: (s) => { delete s.egress; delete s.outboundTrafficPolicy; }, path: 'spec', message: 'sidecar: empty configuration provided' },
  { name: 'egress proxy', kind: 'Sidecar', edit: (s) => (s.outboundTrafficPolicy.egressProxy = { host: 'egress.example.com' }), path: 'spec.outboundTrafficPolicy.egressProxy', message: 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode' },
  { name: 'ingress endpoint', kind: 'Sidecar', edit: (s) => (s.ingress = [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, defaultEndpoint: '10.1.1.1:9080' }]), path: 'spec.ingress[0].defaultEndpoint', message: /^invalid defaultEndpoint "10.1.1.1:9080"/ },
  { name: 'catch-all not last', kind: 'Sidecar', edit: (s) => s.egress.push({ port: { number: 80, protocol: 'HTTP', name: 'http' }, hosts: ['*/*'] }), path: 'spec.egress[0]', message: 'sidecar: the egress listener with empty port should be the last listener in the list' },

  // ---- Gateway ----
  { name: 'no servers', kind: 'Gateway', edit: (s) => (s.servers = []), path: 'spec.servers', message: 'gateway must have at least one server' },
  { name: 'https without tls', kind: 'Gateway', edit: (s) => delete s.servers[1].tls, path: 'spec.servers[1].tls', message: 'server must have TLS settings for HTTPS protocol' },
  { name: 'simple tls without cert', kind: 'Gateway', edit: (s) => (s.servers[1].tls = { mode: 'SIMPLE' }), path: 'spec.servers[1].tls.serverCertificate', message: 'SIMPLE TLS requires a server certificate (or credentialName)' },
  { name: 'duplicate port name', kind: 'Gateway', edit: (s) => (s.servers[1].port.name = 'http'), path: 'spec.servers[1].port.name', message: 'port names in servers must be unique: duplicate name http' },
  { name: 'server host', kind: 'Gateway', edit: (s) => (s.servers[0].hosts = ['a/b/c']), path: 'spec.servers[0].hosts[0]', message: 'host "a/b/c" must be of the form namespace/dnsName' },

  // ---- security ----
  { name: 'CUSTOM action', kind: 'AuthorizationPolicy', edit: (s) => { s.action = 'CUSTOM'; s.provider = { name: 'ext-authz' }; }, path: 'spec.action', message: 'CUSTOM action is not supported by tandem (no external authorization provider)' },
  { name: 'empty source', kind: 'AuthorizationPolicy', edit: (s) => (s.rules[0].from = [{ source: {} }]), path: 'spec.rules[0].from[0].source', message: '`from.source` must not be empty' },
  { name: 'condition key', kind: 'AuthorizationPolicy', edit: (s) => (s.rules[0].when = [{ key: 'source.color', values: ['red'] }]), path: 'spec.rules[0].when[0].key', message: 'unknown attribute: source.color' },
  { name: 'condition values', kind: 'AuthorizationPolicy', edit: (s) => (s.rules[0].when = [{ key: 'source.namespace' }]), path: 'spec.rules[0].when[0]', message: 'at least one of values or notValues must be set for key: source.namespace' },
  { name: 'operation port', kind: 'AuthorizationPolicy', edit: (s) => (s.rules[0].to[0].operation.ports = ['99999']), path: 'spec.rules[0].to[0].operation.ports[0]', message: 'port number "99999" must be in the range 1..65535' },
  { name: 'issuer', kind: 'RequestAuthentication', edit: (s) => delete s.jwtRules[0].issuer, path: 'spec.jwtRules[0].issuer', message: 'issuer must be set' },
  { name: 'jwksUri', kind: 'RequestAuthentication', edit: (s) => (s.jwtRules[0].jwksUri = 'ftp://issuer.example.com/jwks'), path: 'spec.jwtRules[0].jwksUri', message: 'Invalid value: "ftp://issuer.example.com/jwks": url must have scheme http:// or https://' },
  { name: 'selector label', kind: 'PeerAuthentication', edit: (s) => (s.selector.matchLabels = { 'bad key!': 'x' }), path: 'spec.selector.matchLabels[bad key!]', message: 'invalid label key "bad key!"' },
  { name: 'sampling', kind: 'Telemetry', edit: (s) => (s.tracing[0].randomSamplingPercentage = 101), path: 'spec.tracing[0].randomSamplingPercentage', message: /^Invalid value: 101: should be less than or equal to 100|randomSamplingPercentage must be in range/ },
  { name: 'provider name', kind: 'Telemetry', edit: (s) => (s.accessLogging[0].providers = [{}]), path: 'spec.accessLogging[0].providers[0].name', message: 'Required value' },
  { name: 'one tracing provider', kind: 'Telemetry', edit: (s) => s.tracing[0].providers.push({ name: 'otel' }), path: 'spec.tracing[0].providers', message: 'only one provider is supported per tracing configuration' },
];

t.test('every base object is valid', async (t) => {
  for (const [kind, o] of Object.entries(VALID)) {
    const r = validateConfig(o);
    t.ok(r.validated, `${kind} is validated`);
    t.same(r.problems, [], `${kind} base object is valid`);
  }
});

t.test('invalid objects are refused with the field path and message', async (t) => {
  const kinds = new Set(CASES.map((c) => c.kind));
  t.same([...kinds].sort(), Object.keys(VALID).sort(), 'every kind has cases');
  for (const c of CASES) {
    const doc = c.doc ?? withSpec(c.kind, c.edit ?? (() => {}));
    const r = validateConfig(doc);
    const hit = r.problems.find((p) => p.path === c.path && (typeof c.message === 'string' ? p.message === c.message : c.message.test(p.message)));
    t.ok(hit, `${c.kind}: ${c.name}`, { found: r.problems, wanted: { path: c.path, message: String(c.message) } });
  }
});
