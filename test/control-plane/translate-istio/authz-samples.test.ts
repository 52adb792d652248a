/**
 * A table over one mesh: Istio's vendored sample config (test/conformance/istio-config/samples/,
 * which holds no AuthorizationPolicy of its own) together with every policy of authz-testdata/, for
 * workloads in several namespaces and with several label sets, in each mode: translating never
 * throws, every filter passes the strict Envoy-proto checker, and the filters come in Istio's
 * evaluation order (AUDIT, DENY, ALLOW; proxyless: DENY, ALLOW, with distinct names).
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { isObject } from '../../../common/objects.js';
import type { ConfigObject } from '../../../config/model.js';
import type { AuthorizationWorkload } from '../../../control-plane/model/authorization-policies.js';
import { meshOptions } from '../../../control-plane/model/options.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import type { Json } from '../../../control-plane/xds/translate/istio/envoy.js';
import { authorization } from '../../../control-plane/xds/translate/istio/authz/index.js';
import { conformancePath } from '../../conformance.js';
import { AUTHZ_TESTDATA, filterIssues, readPolicies, type Mode } from './authz-helpers.js';

function loadSamples(): ConfigObject[] {
  const dir = conformancePath('istio-config', 'samples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  if (files.length === 0) throw new Error(`no samples in ${dir}`);
  const out: ConfigObject[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(`${dir}/${f}`, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${f}: ${doc.errors[0]!.message}`);
      const j: unknown = doc.toJSON();
      if (isObject(j)) out.push(j as unknown as ConfigObject);
    }
  }
  return out;
}

const cases = readdirSync(AUTHZ_TESTDATA).filter((f) => f.endsWith('.yaml') && !f.endsWith('.out.yaml')).map((f) => f.slice(0, -'.yaml'.length));
const policies = cases.flatMap(readPolicies);
const configs = [...loadSamples(), ...policies];
const snapshot = buildMeshSnapshot({ registry: { services: [] }, configs, options: meshOptions() });

const workloads: AuthorizationWorkload[] = [
  { namespace: 'foo', labels: { app: 'httpbin' } },
  { namespace: 'foo', labels: {} },
  { namespace: 'testns', labels: { app: 'c', version: 'v1' } },
  { namespace: 'istio-system', labels: { app: 'httpbin' } },
  { namespace: 'bar', labels: { app: 'other' } },
];

const ORDER: Record<string, number> = { LOG: 0, DENY: 1, ALLOW: 2 };

function actionOf(f: Json): string {
  const cfg = f['typed_config'] as Json;
  return String(((cfg['rules'] ?? cfg['shadow_rules']) as Json)['action']);
}

t.test('the mesh holds the samples and the policies', async (t) => {
  t.ok(policies.length >= 20, `${policies.length} AuthorizationPolicies from ${cases.length} files`);
  t.ok(configs.length - policies.length >= 60, `${configs.length - policies.length} sample documents`);
});

for (const w of workloads) {
  for (const mode of ['http', 'tcp', 'proxyless'] as Mode[]) {
    t.test(`${w.namespace} ${JSON.stringify(w.labels)} ${mode}`, async (t) => {
      const r = authorization(snapshot, w, { protocol: mode === 'tcp' ? 'tcp' : 'http', proxyless: mode === 'proxyless', port: 8000 });
      t.same(filterIssues(mode, r.filters), [], `${r.filters.length} filters pass the strict checker`);
      const order = r.filters.map((f) => ORDER[actionOf(f)] ?? -1);
      t.same(order, [...order].sort(), 'AUDIT, then DENY, then ALLOW');
      t.equal(new Set(order).size, order.length, 'at most one filter per action');
      if (mode === 'proxyless') {
        t.notOk(order.includes(0), 'no AUDIT filter for proxyless');
        t.equal(new Set(r.filters.map((f) => f['name'])).size, r.filters.length, 'distinct filter names');
      }
    });
  }
}
