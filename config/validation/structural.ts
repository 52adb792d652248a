import { isObject } from '../../common/objects.js';
import type { ConfigProblem } from '../model.js';
import { checkRules } from './cel.js';
import type { SchemaNode } from './crd-schemas.js';
import { re2Problem, re2Test } from './regex.js';

/**
 * The apiserver's checks of a custom resource against its structural schema, with strict field
 * validation: unknown fields, types, nullable, enums, formats, bounds, list types, oneOf/anyOf/allOf/not,
 * then the `x-kubernetes-validations` CEL rules with `self` bound at the rule's node.
 *
 * Hand-written schema walk rather than ajv: structural schemas are not JSON Schema (nullable prunes
 * nulls, int-or-string, preserve-unknown-fields, list-type set/map, Kubernetes field paths and messages),
 * and the CEL rules need the same walk to bind `self` with each value typed by its schema (int vs double,
 * maps). The price, measured by bench/validate.mjs on Istio's samples (2026-12-03, loaded 2-core machine):
 * this walk runs at 0.27x the objects/s of ajv's generated code on a JSON-Schema translation of the same
 * schemas (ajv: ~125k objects/s, walk: ~34k/s, walk + CEL ~13k/s, everything ~9k/s) — far above what a
 * webhook or a store needs, so the exact semantics win. Moving the structural part to ajv (custom keywords
 * for CEL, list-map keys and RE2 patterns) is the way to win that factor back if it ever matters.
 */

export interface StructuralResult {
  problems: ConfigProblem[];
  /** CEL rules evaluated (transition rules skipped on create are not counted). */
  rulesEvaluated: number;
}

interface Walk {
  problems: ConfigProblem[];
  rules: number;
  oldRoot?: unknown;
}

/** `spec.http[0]` / `spec.selector.matchLabels[app]` — Kubernetes field path rendering. */
export function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return '"array"';
  if (isObject(v)) return '"object"';
  return String(v);
}

function typeOk(v: unknown, s: SchemaNode): boolean {
  if (s['x-kubernetes-int-or-string']) return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  switch (s.type) {
    case undefined:
      return true;
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
  }
}

const INT32 = 2 ** 31;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Value validations of one node (no recursion into children): the messages, empty when valid. */
interface ValueProblem {
  /** a child field the problem is about (a missing required field), else the node itself */
  field?: string;
  message: string;
}

function valueProblems(v: unknown, s: SchemaNode): ValueProblem[] {
  const out: ValueProblem[] = [];
  const push = (message: string): void => {
    out.push({ message });
  };
  if (!typeOk(v, s)) {
    const want = s['x-kubernetes-int-or-string'] ? 'integer or string' : s.type;
    return [{ message: `Invalid value: ${show(v)}: must be of type ${want}` }];
  }
  if (s.enum !== undefined && !s.enum.some((e) => e === v)) {
    push(`Unsupported value: ${show(v)}: supported values: ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }
  if (typeof v === 'string') {
    const len = s.maxLength !== undefined || s.minLength !== undefined ? [...v].length : 0;
    if (s.maxLength !== undefined && len > s.maxLength) push(`Too long: may not be more than ${s.maxLength} characters`);
    if (s.minLength !== undefined && len < s.minLength) push(`Invalid value: ${show(v)}: should be at least ${s.minLength} chars long`);
    if (s.pattern !== undefined) {
      const bad = re2Problem(s.pattern);
      if (bad !== undefined) push(`schema pattern unusable: ${bad}`);
      else if (!re2Test(s.pattern, v)) push(`Invalid value: ${show(v)}: should match '${s.pattern}'`);
    }
    if (s.format === 'byte' && !BASE64.test(v)) push(`Invalid value: ${show(v)}: must be base64 encoded`);
    if (s.format === 'date-time' && !DATE_TIME.test(v)) push(`Invalid value: ${show(v)}: must be an RFC 3339 date-time`);
  }
  if (typeof v === 'number') {
    if (s.format === 'int32' && (v < -INT32 || v >= INT32)) push(`Invalid value: ${v}: must fit in a 32-bit integer`);
    if (s.maximum !== undefined && (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum)) push(`Invalid value: ${v}: should be less than ${s.exclusiveMaximum ? '' : 'or equal to '}${s.maximum}`);
    if (s.minimum !== undefined && (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum)) push(`Invalid value: ${v}: should be greater than ${s.exclusiveMinimum ? '' : 'or equal to '}${s.minimum}`);
  }
  if (Array.isArray(v)) {
    if (s.maxItems !== undefined && v.length > s.maxItems) push(`Too many: ${v.length}: must have at most ${s.maxItems} items`);
    if (s.minItems !== undefined && v.length < s.minItems) push(`Invalid value: ${v.length}: should have at least ${s.minItems} items`);
  }
  if (isObject(v)) {
    const present = Object.keys(v).filter((k) => v[k] !== null || s.properties?.[k]?.nullable === true);
    for (const r of s.required ?? []) if (!present.includes(r)) out.push({ field: r, message: 'Required value' });
    if (s.maxProperties !== undefined && present.length > s.maxProperties) push(`Too many: ${present.length}: must have at most ${s.maxProperties} properties`);
    if (s.minProperties !== undefined && present.length < s.minProperties) push(`Invalid value: ${present.length}: should have at least ${s.minProperties} properties`);
  }
  if (s.allOf !== undefined) for (const sub of s.allOf) out.push(...valueProblems(v, sub));
  if (s.anyOf !== undefined && !s.anyOf.some((sub) => matches(v, sub))) push('Invalid value: must match at least one schema in anyOf');
  if (s.oneOf !== undefined) {
    const n = s.oneOf.filter((sub) => matches(v, sub)).length;
    if (n !== 1) {
      const names = s.oneOf.flatMap((sub) => (sub.required?.length === 1 ? sub.required : []));
      push(names.length > 1 ? `Invalid value: only one of ${names.join(', ')} may be set` : 'Invalid value: must match exactly one schema in oneOf');
    }
  }
  if (s.not !== undefined && matches(v, s.not)) push('Invalid value: must not match the schema in not');
  return out;
}

/** Does `v` satisfy the value validations of `s` (the sub-schemas of oneOf/anyOf/allOf/not), recursively? */
function matches(v: unknown, s: SchemaNode): boolean {
  if (valueProblems(v, s).length > 0) return false;
  if (isObject(v) && s.properties) {
    for (const [k, sub] of Object.entries(s.properties)) if (v[k] !== undefined && v[k] !== null && !matches(v[k], sub)) return false;
  }
  if (Array.isArray(v) && s.items) return v.every((i) => matches(i, s.items as SchemaNode));
  return true;
}

function listDuplicates(v: unknown[], s: SchemaNode, path: string, w: Walk): void {
  const type = s['x-kubernetes-list-type'];
  if (type !== 'set' && type !== 'map') return;
  const keys = s['x-kubernetes-list-map-keys'] ?? [];
  const seen = new Set<string>();
  v.forEach((item, i) => {
    const key = type === 'set' ? JSON.stringify(item) : JSON.stringify(Object.fromEntries(keys.map((k) => [k, isObject(item) ? item[k] : undefined])));
    if (seen.has(key)) w.problems.push({ path: `${path}[${i}]`, message: `Duplicate value: ${key}` });
    seen.add(key);
  });
}

/** Walks `v` under `s`; returns false if this subtree had a structural problem (then its CEL rules are not run). */
function walk(v: unknown, s: SchemaNode, path: string, w: Walk, isRoot: boolean): boolean {
  const before = w.problems.length;
  for (const m of valueProblems(v, s)) w.problems.push({ path: m.field === undefined ? path : childPath(path, m.field), message: m.message });
  if (!typeOk(v, s)) return false;
  if (isObject(v)) {
    const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
    const extra = typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
    for (const [k, child] of Object.entries(v)) {
      const sub = s.properties?.[k] ?? extra;
      if (isRoot && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
      const p = s.properties?.[k] ? childPath(path, k) : extra ? `${path}[${k}]` : childPath(path, k);
      if (sub === undefined) {
        if (!preserve && s.additionalProperties !== true) w.problems.push({ path: p, message: 'unknown field' });
        continue;
      }
      // Structural schemas prune a null in a field that is not nullable; it is as if absent.
      if (child === null && sub.nullable !== true) continue;
      if (child === null || child === undefined) continue;
      walk(child, sub, p, w, false);
    }
  } else if (Array.isArray(v)) {
    if (s.items) v.forEach((item, i) => {
      if (item === null && s.items?.nullable !== true) w.problems.push({ path: `${path}[${i}]`, message: 'Invalid value: null: must not be null' });
      else if (item !== null) walk(item, s.items as SchemaNode, `${path}[${i}]`, w, false);
    });
    listDuplicates(v, s, path, w);
  }
  const ok = w.problems.length === before;
  const rules = s['x-kubernetes-validations'];
  if (ok && rules !== undefined) {
    const outcomes = checkRules(rules, prune(v, s), s);
    for (const [i, rule] of rules.entries()) {
      const outcome = outcomes[i] ?? {};
      if (outcome.skipped) continue;
      w.rules++;
      if (outcome.message !== undefined) {
        const at = rule.fieldPath ? path + rule.fieldPath : path;
        w.problems.push({ path: at, message: `Invalid value: ${show(v)}: ${outcome.message}` });
      }
    }
  }
  return ok;
}

/** The value as the apiserver keeps it: nulls in non-nullable fields dropped (so CEL's has() agrees). */
function prune(v: unknown, s: SchemaNode | undefined): unknown {
  if (isObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, child] of Object.entries(v)) {
      const sub = s?.properties?.[k] ?? (typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined);
      if (child === null && sub?.nullable !== true) continue;
      out[k] = prune(child, sub);
    }
    return out;
  }
  if (Array.isArray(v)) return v.map((i) => prune(i, s?.items));
  return v;
}

/** Pure: the structural and CEL problems of a whole object (apiVersion/kind/metadata are checked elsewhere). */
export function validateStructure(obj: unknown, schema: SchemaNode): StructuralResult {
  const w: Walk = { problems: [], rules: 0 };
  walk(obj, schema, '', w, true);
  return { problems: w.problems, rulesEvaluated: w.rules };
}
