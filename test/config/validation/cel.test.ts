import t from 'tap';
import { evaluateRule, toCel } from '../../../config/validation/cel.js';
import { re2Problem } from '../../../config/validation/regex.js';
import { validateConfig } from '../../../config/validation/validate.js';
import { withSpec, type Spec } from './fixtures.js';

/**
 * The CRDs' x-kubernetes-validations, one that must fire per kind (messages are the CRDs' own `message`),
 * and the CEL and RE2 machinery underneath.
 */

const FIRING: Array<{ kind: string; edit: (s: Spec) => void; path: string; message: string }> = [
  { kind: 'VirtualService', edit: (s) => (s.http[0].timeout = '500us'), path: 'spec.http[0].timeout', message: 'must be a valid duration greater than 1ms' },
  { kind: 'DestinationRule', edit: (s) => (s.workloadSelector = { matchLabels: { 'app*': 'x' } }), path: 'spec.workloadSelector.matchLabels', message: 'wildcard not allowed in label key match' },
  { kind: 'ServiceEntry', edit: (s) => { s.resolution = 'NONE'; s.endpoints = [{ address: '10.0.0.1' }]; }, path: 'spec', message: 'NONE mode cannot set endpoints' },
  { kind: 'ServiceEntry', edit: (s) => (s.ports = [{ number: 443, name: 'a' }, { number: 443, name: 'b' }]), path: 'spec.ports', message: 'port number cannot be duplicated' },
  { kind: 'ServiceEntry', edit: (s) => { s.resolution = 'STATIC'; s.endpoints = [{ address: 'unix://relative/path' }]; }, path: 'spec.endpoints[0].address', message: 'UDS must be an absolute path or abstract socket' },
  { kind: 'ServiceEntry', edit: (s) => { s.endpoints = [{ address: '10.0.0.1', ports: { 'bad name!': 80 } }]; s.resolution = 'STATIC'; }, path: 'spec.endpoints[0].ports', message: 'port name must be valid' },
  { kind: 'Sidecar', edit: (s) => (s.workloadSelector = { labels: { app: 'web*' } }), path: 'spec.workloadSelector.labels[app]', message: 'wildcard is not supported in selector' },
  { kind: 'Gateway', edit: (s) => (s.servers[1].tls.credentialNames = ['a', 'b']), path: 'spec.servers[1].tls', message: 'only one of credentialName or credentialNames can be set' },
  { kind: 'PeerAuthentication', edit: (s) => delete s.selector, path: 'spec', message: 'portLevelMtls requires selector' },
  { kind: 'PeerAuthentication', edit: (s) => (s.portLevelMtls = { '0': { mode: 'DISABLE' } }), path: 'spec.portLevelMtls', message: 'port must be between 1-65535' },
  { kind: 'AuthorizationPolicy', edit: (s) => (s.rules[0].from[0].source.serviceAccounts = ['demo/productpage']), path: 'spec.rules[0].from[0].source', message: 'Cannot set serviceAccounts with namespaces or principals' },
  { kind: 'AuthorizationPolicy', edit: (s) => (s.targetRef = { kind: 'Service', name: 'reviews' }), path: 'spec', message: 'only one of targetRefs or selector can be set' },
  { kind: 'RequestAuthentication', edit: (s) => (s.jwtRules[0].jwks = '{"keys":[]}'), path: 'spec.jwtRules[0]', message: 'only one of jwks or jwksUri can be set' },
  { kind: 'RequestAuthentication', edit: (s) => (s.jwtRules[0].jwksUri = 'file:///etc/jwks.json'), path: 'spec.jwtRules[0].jwksUri', message: 'url must have scheme http:// or https://' },
  { kind: 'Telemetry', edit: (s) => (s.metrics = [{ overrides: [{ tagOverrides: { method: { operation: 'UPSERT', value: '' } } }] }]), path: 'spec.metrics[0].overrides[0].tagOverrides[method]', message: 'value must be set when operation is UPSERT' },
];

t.test('a CRD rule that must fire, per kind', async (t) => {
  for (const c of FIRING) {
    const r = validateConfig(withSpec(c.kind, c.edit));
    const hit = r.problems.find((p) => p.path === c.path && p.message.endsWith(`: ${c.message}`));
    t.ok(hit, `${c.kind}: ${c.message}`, { found: r.problems });
  }
  const kinds = new Set(FIRING.map((c) => c.kind));
  t.equal(kinds.size, 9, 'every kind has a firing rule');
});

t.test('self is typed by the schema: integers are CEL ints, objects are maps', async (t) => {
  const port = { type: 'integer' } as const;
  t.same(evaluateRule({ rule: '0 < self && self <= 65535', message: 'm' }, toCel(8080, port)), {}, 'an int compares with int literals');
  t.same(evaluateRule({ rule: '0 < self && self <= 65535', message: 'm' }, toCel(0, port)), { message: 'm' });
  const obj = { type: 'object', properties: { a: { type: 'string' } } } as const;
  t.same(evaluateRule({ rule: 'has(self.a)', message: 'm' }, toCel({ a: 'x' }, obj)), {});
  t.same(evaluateRule({ rule: 'has(self.a)', message: 'm' }, toCel({}, obj)), { message: 'm' });
  t.same(evaluateRule({ rule: 'self.size() > 0', messageExpression: "'got ' + string(self.size())" }, toCel([], { type: 'array' })), { message: 'got 0' }, 'messageExpression is evaluated');
});

t.test('Kubernetes URL library: url(), getScheme(), getHost(), isURL()', async (t) => {
  const s = { type: 'string' } as const;
  t.same(evaluateRule({ rule: "url(self).getScheme() == 'https' && url(self).getHost() == 'example.com:8443'", message: 'm' }, toCel('https://example.com:8443/x', s)), {});
  t.same(evaluateRule({ rule: 'isURL(self)', message: 'm' }, toCel('not a url', s)), { message: 'm' });
  t.same(evaluateRule({ rule: "url(self).getEscapedPath() == '/a/b'", message: 'm' }, toCel('/a/b', s)), {}, 'an absolute path is a URL');
  const bad = evaluateRule({ rule: "url(self).getScheme() == 'https'", message: 'm' }, toCel('::', s));
  t.match(bad.message, /^m \(rule evaluation error: .*URL parse error/, 'an evaluation error is reported with the rule message');
});

t.test('transition rules are skipped on create and run with an old value', async (t) => {
  const rule = { rule: 'self == oldSelf', message: 'immutable' };
  t.same(evaluateRule(rule, toCel('a', { type: 'string' })), { skipped: true }, 'no oldSelf: skipped');
  t.same(evaluateRule(rule, 'b', 'a'), { message: 'immutable' });
  t.same(evaluateRule(rule, 'a', 'a'), {});
});

t.test('regexes use RE2 grammar, not JavaScript', async (t) => {
  t.equal(re2Problem('^/api/v[0-9]+/.*$'), undefined);
  for (const jsOnly of ['a(?=b)', '(a)\\1', 'a++', '(?<!x)y']) t.match(re2Problem(jsOnly), /^invalid RE2 regex/, `${jsOnly} is refused`);
  t.match(re2Problem('[a-'), /^invalid RE2 regex/, 'broken syntax is refused');
  // Valid in RE2 but not in JavaScript's RegExp without the u flag: \\pL and (?i) flags.
  t.equal(re2Problem('(?i)^\\pL+$'), undefined, 'RE2-only syntax is accepted');
});
