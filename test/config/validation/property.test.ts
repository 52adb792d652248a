import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { validateConfig } from '../../../config/validation/validate.js';
import { conformancePath } from '../../conformance.js';
import { VALID } from './fixtures.js';

/**
 * Random mutations of valid objects (Istio's samples and the hand-written base objects): validation never
 * throws, and every refusal names a field path (only a document that is not an object may have none).
 */

type Json = unknown;

const dir = conformancePath('istio-config', 'samples');
const samples: Json[] = [
  ...readdirSync(dir).flatMap((f) => parseAllDocuments(readFileSync(`${dir}/${f}`, 'utf8')).map((d) => d.toJS() as Json)),
  ...Object.values(VALID),
].filter((o) => o !== null && typeof o === 'object' && String((o as { apiVersion?: string }).apiVersion).includes('istio.io'));

/** Every path (as keys) into a JSON value. */
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

type Mutation = { kind: 'replace'; value: Json } | { kind: 'delete' } | { kind: 'add'; key: string; value: Json };

function mutate(root: Json, path: (string | number)[], m: Mutation): Json {
  const copy = structuredClone(root);
  if (path.length === 0) return m.kind === 'replace' ? m.value : copy;
  let parent: Json = copy;
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k];
  const last = path[path.length - 1] as string | number;
  const target = parent as Record<string | number, Json>;
  if (m.kind === 'replace') target[last] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(target)) target.splice(Number(last), 1);
    else delete target[last];
  } else {
    const at = target[last];
    if (at !== null && typeof at === 'object' && !Array.isArray(at)) (at as Record<string, Json>)[m.key] = m.value;
  }
  return copy;
}

const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('*', '', '1ms', '0s', '-1', '10.0.0.0/8', 'a(?=b)', 'unix://x', '99999', 'CUSTOM', 'DNS', 'STATIC'));
const value = fc.oneof({ weight: 4, arbitrary: scalar }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  value.map((v) => ({ kind: 'replace' as const, value: v })),
  fc.constant({ kind: 'delete' as const }),
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), value).map(([key, v]) => ({ kind: 'add' as const, key, value: v })),
);

t.test('mutated valid objects: never a throw, every problem names a path', async (t) => {
  t.ok(samples.length > 80, `${samples.length} valid objects to mutate`);
  let refused = 0;
  fc.assert(
    fc.property(fc.nat(samples.length - 1), fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), (i, pick, ms) => {
      let doc = samples[i];
      for (const m of ms) {
        const all = paths(doc);
        doc = mutate(doc, all[pick % all.length] ?? [], m);
      }
      const r = validateConfig(doc);
      if (r.problems.length > 0) refused++;
      const objectDoc = doc !== null && typeof doc === 'object' && !Array.isArray(doc);
      for (const p of r.problems) {
        if (objectDoc && p.path === '') return false;
        if (typeof p.message !== 'string' || p.message === '') return false;
      }
      return true;
    }),
    { numRuns: 1500, seed: 20261203 },
  );
  t.ok(refused > 300, `the mutations are not all harmless (${refused} refused)`);
});
