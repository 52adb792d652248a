/**
 * AuthorizationPolicy → Envoy RBAC, golden-tested. `authz-testdata/<case>.yaml` holds the policies
 * of a case (each validated by `tandem validate`'s code first, so that the inputs are Istio's);
 * `<case>.out.yaml` the filters expected for the case's workload, per mode (`http`, `tcp`,
 * `proxyless`), written by hand from Istio's authorization builder rules (pilot/pkg/security/authz)
 * and Envoy's RBAC protos. Every filter must pass the strict Envoy-proto checker. `UPDATE_GOLDENS=1`
 * rewrites the `.out.yaml` files (then review the diff).
 */
import t from 'tap';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import type { AuthorizationWorkload } from '../../../control-plane/model/authorization-policies.js';
import { meshOptions, type MeshOptions } from '../../../control-plane/model/options.js';
import { buildMeshSnapshot } from '../../../control-plane/model/snapshot.js';
import { authorization, type AuthorizationOptions } from '../../../control-plane/xds/translate/istio/authz/index.js';
import { checkNoUnusedGoldens, UPDATE_GOLDENS } from '../../golden.js';
import { AUTHZ_TESTDATA, filterIssues, readPolicies, type Mode } from './authz-helpers.js';

const MODES: Record<Mode, Omit<AuthorizationOptions, 'port'>> = {
  http: { protocol: 'http', proxyless: false },
  tcp: { protocol: 'tcp', proxyless: false },
  proxyless: { protocol: 'http', proxyless: true },
};

interface Case {
  name: string;
  workload: AuthorizationWorkload;
  mesh?: Partial<MeshOptions>;
  trustDomainAliases?: string[];
  /** notes expected (substrings), per mode */
  notes?: Partial<Record<Mode, string[]>>;
}

const FOO: AuthorizationWorkload = { namespace: 'foo', labels: { app: 'httpbin' } };

const CASES: Case[] = [
  { name: 'allow-principals', workload: FOO },
  { name: 'deny-and-allow', workload: FOO },
  { name: 'audit', workload: FOO, notes: { proxyless: ['AUDIT policies left out'] } },
  { name: 'allow-nothing', workload: FOO },
  { name: 'allow-everything', workload: FOO },
  { name: 'deny-everything', workload: FOO },
  { name: 'operation', workload: FOO, notes: { tcp: ['skipped rule ns[foo]-policy[operation]-rule[0]: "hosts" is HTTP only'], proxyless: ['skipped rule ns[foo]-policy[operation]-rule[1]: "paths" is not supported by proxyless gRPC'] } },
  { name: 'source', workload: FOO, notes: { tcp: ['skipped rule ns[foo]-policy[source]-rule[1]: "request.auth.principal" is HTTP only'] } },
  { name: 'conditions', workload: FOO },
  { name: 'tcp-deny-http-fields', workload: FOO, notes: { tcp: ['rule ns[foo]-policy[deny-http]-rule[0]: ignored "methods" is HTTP only'] } },
  { name: 'dry-run', workload: FOO, notes: { proxyless: ['dry-run ALLOW policies left out'] } },
  { name: 'trust-domain', workload: FOO, mesh: { trustDomain: 'td1' }, trustDomainAliases: ['td2'] },
  { name: 'mesh-wide-and-selector', workload: FOO },
];

const used: string[] = [];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const configs = readPolicies(c.name);
    used.push(`${c.name}.yaml`, `${c.name}.out.yaml`);
    const snapshot = buildMeshSnapshot({ registry: { services: [] }, configs, options: meshOptions(c.mesh) });
    const outFile = `${AUTHZ_TESTDATA}${c.name}.out.yaml`;
    if (!existsSync(outFile) && !UPDATE_GOLDENS) throw new Error(`${outFile} is missing (write it by hand)`);
    const expected = (UPDATE_GOLDENS && !existsSync(outFile) ? { http: [], tcp: [], proxyless: [] } : parse(readFileSync(outFile, 'utf8'))) as Partial<Record<Mode, unknown[]>>;
    const actual: Partial<Record<Mode, unknown[]>> = {};
    for (const mode of Object.keys(expected) as Mode[]) {
      const opts: AuthorizationOptions = { ...MODES[mode], port: 8000 };
      if (c.trustDomainAliases) opts.trustDomainAliases = c.trustDomainAliases;
      const r = authorization(snapshot, c.workload, opts);
      actual[mode] = r.filters;
      t.same(r.filters, expected[mode], `${mode}: the filters match ${c.name}.out.yaml`);
      t.same(filterIssues(mode, r.filters), [], `${mode}: every filter passes the strict Envoy-proto checker`);
      for (const n of c.notes?.[mode] ?? []) t.ok(r.notes.some((x) => x.includes(n)), `${mode}: noted "${n}" (notes: ${JSON.stringify(r.notes)})`);
    }
    if (UPDATE_GOLDENS) writeFileSync(outFile, stringify(actual, { lineWidth: 0 }));
  });
}

t.test('every authz golden belongs to a case', async (t) => {
  checkNoUnusedGoldens(t, AUTHZ_TESTDATA, '.yaml', used);
});
