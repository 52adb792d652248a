/**
 * AuthorizationPolicy translation checked by assertion: bad input that bypassed validation (CUSTOM,
 * unknown `when` keys, unreadable CIDRs, null rules, a non-boolean dry-run annotation) is refused
 * per rule and nothing else is lost; selection per workload; notes reach the logger. Expected
 * values written by hand from Istio's authorization builder (pilot/pkg/security/authz).
 */
import t from 'tap';
import type { Logger } from '../../../common/logger.js';
import type { ConfigObject } from '../../../config/model.js';
import { selectAuthorizationPolicies, type SelectedAuthorizationPolicy } from '../../../control-plane/model/authorization-policies.js';
import { meshOptions } from '../../../control-plane/model/options.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import type { Json } from '../../../control-plane/xds/translate/istio/envoy.js';
import { authorization, authorizationFilters, BAD_CUSTOM_SUFFIX } from '../../../control-plane/xds/translate/istio/authz/index.js';
import { filterIssues } from './authz-helpers.js';

function ap(namespace: string, name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): ConfigObject {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { namespace, name, ...(annotations ? { annotations } : {}) },
    spec,
  } as ConfigObject;
}

function snap(...configs: ConfigObject[]): ReturnType<typeof buildMeshSnapshot> {
  return buildMeshSnapshot({ registry: { services: [] }, configs, options: meshOptions() });
}

const FOO = { namespace: 'foo', labels: { app: 'httpbin' } };
const HTTP = { protocol: 'http', proxyless: false, port: 8000 } as const;

function rulesOf(filter: Json | undefined): Json {
  return (filter?.['typed_config'] as Json)['rules'] as Json;
}

function policyNames(filter: Json | undefined): string[] {
  return Object.keys((rulesOf(filter)['policies'] as Json | undefined) ?? {});
}

const ANY_POLICY = { permissions: [{ and_rules: { rules: [{ any: true }] } }], principals: [{ and_ids: { ids: [{ any: true }] } }] };

t.test('a CUSTOM policy that bypassed validation denies what it matches (fails closed, as Istio without its provider)', async (t) => {
  const s = snap(ap('foo', 'ext', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] }), ap('foo', 'deny', { action: 'DENY', rules: [{}] }));
  const r = authorization(s, FOO, HTTP);
  t.equal(r.filters.length, 1, 'one DENY filter');
  t.same(rulesOf(r.filters[0]), {
    action: 'DENY',
    policies: { [`ns[foo]-policy[ext]-rule[0]${BAD_CUSTOM_SUFFIX}`]: ANY_POLICY, 'ns[foo]-policy[deny]-rule[0]': ANY_POLICY },
  });
  t.ok(r.notes.some((n) => n.includes('CUSTOM policies enforced as DENY')), 'noted');
  t.same(filterIssues('http', r.filters), []);
});

t.test('an unknown `when` key skips its rule for every action; the other rules stay', async (t) => {
  const bad = { when: [{ key: 'request.time', values: ['x'] }] };
  const s = snap(ap('foo', 'allow', { rules: [bad, {}] }), ap('foo', 'deny', { action: 'DENY', rules: [bad] }));
  const r = authorization(s, FOO, HTTP);
  t.same(r.filters.map((f) => policyNames(f)), [[], ['ns[foo]-policy[allow]-rule[1]']], 'DENY has no policy left; ALLOW keeps rule[1]');
  t.ok(r.notes.some((n) => n.includes('skipped rule ns[foo]-policy[deny]-rule[0]: unknown attribute request.time')));
});

t.test('an unreadable CIDR drops an ALLOW rule but only the value of a DENY rule', async (t) => {
  const from = [{ source: { ipBlocks: ['10.0.0.0/99', '10.1.0.0/16'] } }];
  const r = authorization(snap(ap('foo', 'allow', { rules: [{ from }] }), ap('foo', 'deny', { action: 'DENY', rules: [{ from }] })), FOO, HTTP);
  t.same(policyNames(r.filters[1]), [], 'the ALLOW rule is gone (nothing allowed)');
  t.same(rulesOf(r.filters[0])['policies'], {
    'ns[foo]-policy[deny]-rule[0]': {
      permissions: [{ and_rules: { rules: [{ any: true }] } }],
      principals: [{ and_ids: { ids: [{ or_ids: { ids: [{ direct_remote_ip: { address_prefix: '10.1.0.0', prefix_len: 16 } }] } }] } }],
    },
  }, 'the DENY keeps the readable block');
  t.same(filterIssues('http', r.filters), []);
});

t.test('a null rule is skipped and named; the policy\'s other rules stay', async (t) => {
  const r = authorization(snap(ap('foo', 'allow', { rules: [null, {}] })), FOO, HTTP);
  t.same(policyNames(r.filters[0]), ['ns[foo]-policy[allow]-rule[1]']);
  t.ok(r.notes.some((n) => n.includes('skipped rule ns[foo]-policy[allow]-rule[0]')));
});

t.test('a dry-run annotation that is not a boolean is ignored (the policy is enforced) and noted', async (t) => {
  const r = authorization(snap(ap('foo', 'p', { rules: [{}] }, { 'istio.io/dry-run': 'yes' })), FOO, HTTP);
  t.same(policyNames(r.filters[0]), ['ns[foo]-policy[p]-rule[0]'], 'enforced');
  t.equal((r.filters[0]?.['typed_config'] as Json)['shadow_rules'], undefined);
  t.ok(r.notes.some((n) => n.includes('istio.io/dry-run="yes"')));
});

t.test('no policy: no filter (everything allowed)', async (t) => {
  t.same(authorization(snap(ap('bar', 'p', { rules: [{}] })), FOO, HTTP).filters, []);
  t.same(authorization(snap(), FOO, { protocol: 'tcp', proxyless: false, port: 1 }).filters, []);
});

t.test('proxyless servers get HTTP filters even when asked for TCP (gRPC is HTTP/2 only)', async (t) => {
  const r = authorization(snap(ap('foo', 'p', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })), FOO, { protocol: 'tcp', proxyless: true, port: 1 });
  t.equal(r.filters[0]?.['name'], 'envoy.filters.http.rbac');
  t.same(policyNames(r.filters[0]), ['ns[foo]-policy[p]-rule[0]'], 'the method rule is kept');
});

t.test('selection: root-namespace policies reach every namespace, selectors compare labels', async (t) => {
  const configs = [
    ap('istio-system', 'mesh', { action: 'DENY', rules: [{}] }),
    ap('istio-system', 'web-only', { selector: { matchLabels: { app: 'web' } }, rules: [{}] }),
    ap('foo', 'foo-wide', { rules: [{}] }),
    ap('foo', 'foo-web', { selector: { matchLabels: { app: 'web', tier: 'front' } }, action: 'AUDIT', rules: [{}] }),
    ap('bar', 'bar-wide', { action: 'DENY', rules: [{}] }),
    ap('foo', 'gateway', { targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' }, rules: [{}] }),
  ];
  const names = (ns: string, labels: Record<string, string>): Record<string, string[]> => {
    const sel = selectAuthorizationPolicies(configs, { namespace: ns, labels }, 'istio-system');
    return Object.fromEntries(Object.entries(sel).map(([k, v]: [string, SelectedAuthorizationPolicy[]]) => [k, v.map((p) => `${p.namespace}/${p.name}`)]));
  };
  t.same(names('foo', { app: 'web', tier: 'front' }), { allow: ['istio-system/web-only', 'foo/foo-wide'], deny: ['istio-system/mesh'], audit: ['foo/foo-web'], custom: [] });
  t.same(names('foo', { app: 'web' }), { allow: ['istio-system/web-only', 'foo/foo-wide'], deny: ['istio-system/mesh'], audit: [], custom: [] });
  t.same(names('bar', {}), { allow: [], deny: ['istio-system/mesh', 'bar/bar-wide'], audit: [], custom: [] });
  t.same(names('istio-system', { app: 'web' }), { allow: ['istio-system/web-only'], deny: ['istio-system/mesh'], audit: [], custom: [] });
});

t.test('authorizationFilters returns the filters and logs what was skipped at debug', async (t) => {
  const lines: string[] = [];
  const logger: Logger = { debug: (_o, m) => lines.push(m ?? ''), info() {}, warn() {}, error() {} };
  const s = snap(ap('foo', 'p', { rules: [{ to: [{ operation: { paths: ['/x'] } }] }] }));
  const filters = authorizationFilters(s, FOO, { protocol: 'tcp', proxyless: false, port: 9000, logger });
  t.same(filters.map((f) => f['name']), ['envoy.filters.network.rbac']);
  t.same(lines, ['authorization: skipped rule ns[foo]-policy[p]-rule[0]: "paths" is HTTP only']);
});
