import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { CONFIG_KINDS } from '../../../config/model.js';
import { crdSchemas, type SchemaNode } from '../../../config/validation/crd-schemas.js';
import { generate } from '../../../config/validation/generate-crd-schemas.js';
import { conformancePath } from '../../conformance.js';

/** The committed crd-schemas.json is exactly what the generator makes of the vendored CRDs. */

const crdsText = readFileSync(conformancePath('istio-config', 'crds.yaml'), 'utf8');
const committed = readFileSync(fileURLToPath(new URL('../../../config/validation/crd-schemas.json', import.meta.url)), 'utf8');

function rules(node: SchemaNode | undefined): number {
  if (node === undefined) return 0;
  let n = node['x-kubernetes-validations']?.length ?? 0;
  for (const child of Object.values(node.properties ?? {})) n += rules(child);
  if (typeof node.additionalProperties === 'object') n += rules(node.additionalProperties);
  n += rules(node.items);
  return n;
}

t.test('regenerating from the vendored CRDs gives the committed file', async (t) => {
  t.equal(generate(crdsText), committed, 'config/validation/crd-schemas.json is up to date (regenerate with generate-crd-schemas.js)');
});

t.test('every stored kind, every served version, every CEL rule', async (t) => {
  const docs = parseAllDocuments(crdsText).map((d) => d.toJS() as { spec: { group: string; names: { kind: string }; versions: { name: string; served: boolean; schema: { openAPIV3Schema: unknown } }[] } });
  const set = crdSchemas();
  let total = 0;
  let transition = 0;
  for (const k of CONFIG_KINDS) {
    const crd = docs.find((d) => d?.spec?.group === k.group && d.spec.names.kind === k.kind);
    t.ok(crd, `${k.kind}: has a CRD`);
    const served = (crd?.spec.versions ?? []).filter((v) => v.served).map((v) => v.name).sort();
    const entry = set.kinds[k.kind];
    t.same(Object.keys(entry?.versions ?? {}).sort(), served, `${k.kind}: the served versions`);
    for (const v of crd?.spec.versions ?? []) {
      if (!v.served) continue;
      const index = entry?.versions[v.name];
      const compact = index === undefined ? undefined : entry?.schemas[index];
      // Counted on the raw CRD text independently of the compactor: every rule of the version survives.
      const rawRules = (JSON.stringify(v.schema.openAPIV3Schema).match(/"rule":/g) ?? []).length;
      t.equal(rules(compact), rawRules, `${k.kind}/${v.name}: all ${rawRules} CEL rules kept`);
      total += rawRules;
      transition += (JSON.stringify(v.schema.openAPIV3Schema).match(/oldSelf/g) ?? []).length;
    }
  }
  // 120 rule sites per version across the nine kinds, 329 over their served versions (the 345
  // counts every CRD of an older istio/api); none is a transition rule.
  t.equal(total, 329, 'CEL rules over the served versions of the stored kinds');
  t.equal(transition, 0, 'no transition (oldSelf) rules in these kinds');
});
