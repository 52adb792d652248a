import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { CONFIG_KINDS } from '../../config/model.js';
import { validateConfig } from '../../config/validation/validate.js';
import { runTandemInProcess } from '../tandem-cli.js';
import { checkFileStore, yamlOf } from './config-check.js';
import { istioObject, kindSchemas } from './istio-objects.js';
import { runs } from './pods.js';

/**
 * Random Istio objects of every kind and version (istio-objects.ts) through the three consumers of
 * the one validator: validateConfig itself, `tandem validate -o json`, and the file config store.
 * None throws or crashes; every refusal names a field path; the store holds exactly the objects
 * validation accepts and logs every refusal with its file, document and problems.
 */

const kinds = kindSchemas();
const object = istioObject(kinds);
const seed = Number(process.env['FC_SEED'] ?? 20261203);

t.test('validateConfig: never throws, every problem names a field path, the same answer twice', async (t) => {
  t.equal(new Set(kinds.map((k) => k.kind)).size, CONFIG_KINDS.length, 'every kind is generated');
  const tally = { valid: 0, refused: 0 };
  fc.assert(
    fc.property(object, (doc) => {
      const r = validateConfig(doc);
      if (!r.validated) throw new Error(`an Istio kind passed over: ${r.kind} ${r.apiVersion}`);
      for (const p of r.problems) {
        if (typeof p.path !== 'string' || p.path === '') throw new Error(`a refusal without a field path: ${JSON.stringify(p)} in ${JSON.stringify(doc)}`);
        if (typeof p.message !== 'string' || p.message === '') throw new Error(`a refusal without a message at ${p.path}`);
      }
      if (!isDeepStrictEqual(validateConfig(doc), r)) throw new Error('a second validation answered differently');
      tally[r.problems.length === 0 ? 'valid' : 'refused']++;
    }),
    { numRuns: runs(1500), seed },
  );
  t.comment(JSON.stringify(tally));
  t.ok(tally.valid > 20, `some random objects are valid (${tally.valid})`);
  t.ok(tally.refused > 200, `most are refused (${tally.refused})`);
});

/** A multi-document YAML file: random objects, now and then a non-Istio document or a scalar. */
const file = fc.array(fc.oneof({ weight: 6, arbitrary: object }, { weight: 1, arbitrary: fc.constantFrom<unknown>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, 'just text', 42, null) }), { minLength: 1, maxLength: 5 });

interface Reported {
  valid: boolean;
  documents: { document: number; validated: boolean; problems: { path: string; message: string }[] }[];
}

t.test('tandem validate -o json: exit 0 or 1 (never 2), every refused document names its fields', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-prop-validate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'config.yaml');
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(file, async (docs) => {
      writeFileSync(path, yamlOf(docs));
      const r = await runTandemInProcess(['validate', '-f', path, '-o', 'json']);
      if (r.code !== 0 && r.code !== 1) throw new Error(`exit ${r.code}: ${r.stderr}`);
      const report = JSON.parse(r.stdout) as Reported;
      const bad = report.documents.filter((d) => d.problems.length > 0);
      if (report.valid !== (bad.length === 0) || (r.code === 0) !== report.valid) throw new Error(`exit ${r.code} but valid=${report.valid} with ${bad.length} refused documents`);
      // Only a document that is not a mapping has no field to name.
      const mapping = (i: number): boolean => { const d = docs[i - 1]; return d !== null && typeof d === 'object'; };
      for (const d of bad) for (const p of d.problems) if (p.path === '' && mapping(d.document)) throw new Error(`document ${d.document}: a refusal without a field path: ${p.message}`);
      if (bad.length > 0) refused++;
    }),
    { numRuns: runs(60), seed },
  );
  t.ok(refused > 10, `files with refused documents were seen (${refused})`);
});

t.test('the file config store: holds exactly what validation accepts, logs and counts every refusal', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-prop-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  let runsDone = 0;
  await fc.assert(
    fc.asyncProperty(file, async (docs) => {
      const problems = await checkFileStore(docs, join(dir, String(n++)));
      if (problems.length > 0) throw new Error(problems.join('\n'));
      runsDone++;
    }),
    { numRuns: runs(40), seed },
  );
  t.ok(runsDone >= 40, `${runsDone} files read`);
});
