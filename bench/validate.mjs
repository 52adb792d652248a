#!/usr/bin/env node
// Validation throughput over Istio's sample mesh (test/conformance/istio-config/samples, 75 objects),
// against a baseline measured in the same run: ajv (already a dependency) validating the same objects
// structurally only, on a JSON-Schema translation of the same CRD schemas (strict additionalProperties,
// int-or-string, nullable; no CEL, no Istio rules). Subjects, interleaved in rounds:
//   ajv structural        the baseline
//   walk structural       tandem's schema walk with the CEL rules removed from the schema
//   walk + CEL            validateStructure as shipped (schema walk + x-kubernetes-validations)
//   full validateConfig   what tandem validate, the webhook and the stores run (+ Istio's semantic rules)
// Usage: npm run build && node bench/validate.mjs [rounds=25]
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { median } from './stats.mjs';

const repo = fileURLToPath(new URL('../', import.meta.url));
const { crdSchemas } = await import(`${repo}dist/config/validation/crd-schemas.js`);
const { validateStructure } = await import(`${repo}dist/config/validation/structural.js`);
const { validateConfig } = await import(`${repo}dist/config/validation/validate.js`);
const rounds = Number(process.argv[2] ?? 25);

const dir = `${repo}test/conformance/istio-config/samples/`;
const set = crdSchemas();
const objects = readdirSync(dir)
  .flatMap((f) => parseAllDocuments(readFileSync(dir + f, 'utf8')).map((d) => d.toJS()))
  .filter((o) => o && set.kinds[o.kind])
  // the one removed field Istio tolerates is dropped by validateConfig; drop it here too so every subject sees the same input
  .map((o) => (o.kind === 'VirtualService' && o.spec.http ? { ...o, spec: { ...o.spec, http: o.spec.http?.map(({ websocketUpgrade, ...r }) => r) } } : o));
const schemaOf = (o) => {
  const k = set.kinds[o.kind];
  return k.schemas[k.versions[o.apiVersion.split('/')[1]]];
};

/** Structural schema -> draft-07 JSON Schema (what ajv understands), for the baseline only. */
function toJsonSchema(s, root = false) {
  const out = {};
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  if (s['x-kubernetes-int-or-string']) out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  else if (s.type) out.type = s.nullable ? [s.type, 'null'] : s.type;
  for (const k of ['enum', 'maxLength', 'minLength', 'maximum', 'minimum', 'maxItems', 'minItems', 'maxProperties', 'minProperties', 'required']) if (s[k] !== undefined) out[k] = s[k];
  if (s.properties) {
    out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toJsonSchema(v)]));
    if (root) Object.assign(out.properties, { apiVersion: {}, kind: {}, metadata: {} });
  }
  if (typeof s.additionalProperties === 'object') out.additionalProperties = toJsonSchema(s.additionalProperties);
  else if (s.type === 'object' && !preserve) out.additionalProperties = false;
  if (s.items) out.items = toJsonSchema(s.items);
  for (const k of ['oneOf', 'anyOf', 'allOf']) if (s[k]) out[k === 'anyOf' && out.anyOf ? 'allOf' : k] = s[k].map((x) => toJsonSchema(x));
  if (s.not) out.not = toJsonSchema(s.not);
  return out;
}
function withoutCel(s) {
  if (Array.isArray(s)) return s.map(withoutCel);
  if (s === null || typeof s !== 'object') return s;
  return Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'x-kubernetes-validations').map(([k, v]) => [k, withoutCel(v)]));
}

const ajv = new Ajv({ strict: false, allErrors: true });
const ajvFns = new Map();
const noCel = new Map();
for (const o of objects) {
  const s = schemaOf(o);
  if (!ajvFns.has(s)) ajvFns.set(s, ajv.compile(toJsonSchema(s, true)));
  if (!noCel.has(s)) noCel.set(s, withoutCel(s));
}

// Every subject must agree the samples are valid, or the comparison means nothing.
for (const o of objects) {
  const s = schemaOf(o);
  const f = ajvFns.get(s);
  if (!f(o)) throw new Error(`ajv baseline refuses ${o.kind}/${o.metadata.name}: ${ajv.errorsText(f.errors)}`);
  if (validateConfig(o).problems.length) throw new Error(`validateConfig refuses ${o.kind}/${o.metadata.name}`);
}

const subjects = {
  'ajv structural': (o) => ajvFns.get(schemaOf(o))(o),
  'walk structural': (o) => validateStructure(o, noCel.get(schemaOf(o))),
  'walk + CEL': (o) => validateStructure(o, schemaOf(o)),
  'full validateConfig': (o) => validateConfig(o),
};
const perRound = 20; // passes over the 75 objects per subject per round
// Warm-up long enough for V8 to optimise ajv's generated code (its rate kept climbing over the first ~100 passes).
for (const fn of Object.values(subjects)) for (let i = 0; i < 200; i++) for (const o of objects) fn(o);
const rates = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of Object.entries(subjects)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) for (const o of objects) fn(o);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rates[name].push((perRound * objects.length) / s);
  }
}
const base = median(rates['ajv structural']);
console.log(`${objects.length} sample objects, ${rounds} interleaved rounds of ${perRound} passes, node ${process.version}`);
for (const [name, xs] of Object.entries(rates)) {
  const m = median(xs);
  console.log(`${name.padEnd(22)} ${Math.round(m).toString().padStart(8)} objects/s   ${(m / base).toFixed(2)}x ajv structural`);
}
