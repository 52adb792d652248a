import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { validateSources } from '../../../config/validation/files.js';
import { conformancePath } from '../../conformance.js';

/** Istio's own test mesh (istio/istio tests/testdata/config): every document is valid Istio config. */

const dir = conformancePath('istio-config', 'samples');
const sources = readdirSync(dir).sort().map((f) => ({ source: f, text: readFileSync(`${dir}/${f}`, 'utf8') }));

t.test('every sample document validates clean', async (t) => {
  t.equal(sources.length, 30, 'all 30 sample files');
  const report = validateSources(sources);
  const validated = report.documents.filter((d) => d.validated);
  t.equal(validated.length, 75, '75 Istio objects (counted by hand: grep -c "^kind:" minus the Service and 2 Deployments of none.yaml)');
  for (const d of validated) t.same(d.problems, [], `${d.file}:${d.document} ${d.kind} ${d.namespace}/${d.name}`);
  t.ok(report.valid);
  t.same(report.documents.filter((d) => !d.validated).map((d) => `${d.file}:${d.kind}`), ['none.yaml:Service', 'none.yaml:Deployment', 'none.yaml:Deployment'], 'only the Kubernetes kinds are passed over');
  t.ok(report.celRules > 400, `CEL rules evaluated on the samples: ${report.celRules}`);
  const kinds = new Set(validated.map((d) => d.kind));
  t.same([...kinds].sort(), ['DestinationRule', 'Gateway', 'PeerAuthentication', 'ServiceEntry', 'Sidecar', 'VirtualService'], 'the kinds the samples cover');
});

t.test('the removed websocketUpgrade field is a warning, not a refusal; other unknown fields are refused', async (t) => {
  const ws = sources.filter((s) => s.source === 'rule-websocket-route.yaml');
  const report = validateSources(ws);
  const warned = report.documents.filter((d) => d.warnings.length > 0);
  t.equal(warned.length, 2, 'both routes of the sample carry it');
  t.same(warned[0]?.warnings.map((w) => w.path), ['spec.http[0].websocketUpgrade']);
  const edited = ws.map((s) => ({ ...s, text: s.text.replace(/websocketUpgrade/g, 'websocketUpgrades') }));
  const refused = validateSources(edited).documents.flatMap((d) => d.problems);
  t.same(refused.map((p) => `${p.path}: ${p.message}`), ['spec.http[0].websocketUpgrades: unknown field', 'spec.http[0].websocketUpgrades: unknown field']);
});
