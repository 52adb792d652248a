import protobuf from 'protobufjs';
import { isObject } from '../../common/objects.js';
import { memo } from '../memo.js';
import { envoyRoot, fullName, messageType } from './root.js';

/**
 * A strict reading of proto3 JSON (the form Envoy parses from `--config-yaml` and
 * from JSON config), walked against the protobufjs reflection of Envoy's protos.
 *
 * protobufjs' own `fromObject` silently drops unknown fields and accepts any shape
 * for well-known types, which would hide exactly the mistakes Envoy rejects at
 * start-up. This walker fails on unknown fields, wrong scalar types, undefined enum
 * names, several members of one oneof, unknown `Any` types (and checks the payload
 * of every `Any` against its own type), deprecated fields, and a subset of the
 * protoc-gen-validate rules Envoy enforces (required messages and oneofs, string
 * min_len, repeated min_items, numeric bounds).
 *
 * The same walk produces the protobufjs object form, so encoding for the wire goes
 * through the checker by construction.
 */

export interface ProtoJsonIssue {
  path: string;
  message: string;
}

export class ProtoJsonError extends Error {
  constructor(
    readonly typeName: string,
    readonly issues: ProtoJsonIssue[],
  ) {
    super(`invalid ${typeName}: ${issues.map((i) => `${i.path || '<root>'}: ${i.message}`).join('; ')}`);
    this.name = 'ProtoJsonError';
  }
}

type Issues = ProtoJsonIssue[];
type Obj = Record<string, unknown>;

const WRAPPERS = new Set([
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-2147483648, 2147483647],
  sint32: [-2147483648, 2147483647],
  sfixed32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  fixed32: [0, 4294967295],
};
const LONG_TYPES = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);

/** A JSON object; bytes (Uint8Array) are not one. */
function isPlainObject(v: unknown): v is Obj {
  return isObject(v) && !(v instanceof Uint8Array);
}

// `@type` names come from the input, so the memo is bounded; unknown names are remembered too (as null)
const anyTypes = memo<string, { type: protobuf.Type | null }>();

function anyType(name: string): protobuf.Type | null {
  let t = anyTypes.get(name);
  if (t === undefined) {
    let type: protobuf.Type | null;
    try {
      type = envoyRoot().lookupType(name);
    } catch {
      type = null;
    }
    t = { type };
    anyTypes.set(name, t);
  }
  return t.type;
}

interface PresenceRule {
  field: protobuf.Field;
  required: boolean;
  minLen?: number;
  minItems?: number;
  minPairs?: number;
}

interface TypeRules {
  fields: PresenceRule[];
  requiredOneofs: protobuf.OneOf[];
}

const rulesCache = new WeakMap<protobuf.Type, TypeRules>();

/** The protoc-gen-validate presence rules of a type, read once from its options. */
function typeRules(type: protobuf.Type): TypeRules {
  let r = rulesCache.get(type);
  if (r) return r;
  const fields: PresenceRule[] = [];
  for (const field of type.fieldsArray) {
    const opts = field.options ?? {};
    const rule: PresenceRule = {
      field,
      required: Object.entries(opts).some(([k, v]) => v === true && k.startsWith('(validate.rules).') && k.endsWith('.required')),
    };
    const minLen = opts['(validate.rules).string.min_len'];
    const minItems = opts['(validate.rules).repeated.min_items'];
    const minPairs = opts['(validate.rules).map.min_pairs'];
    if (typeof minLen === 'number') rule.minLen = minLen;
    if (typeof minItems === 'number') rule.minItems = minItems;
    if (typeof minPairs === 'number') rule.minPairs = minPairs;
    if (rule.required || rule.minLen !== undefined || rule.minItems !== undefined || rule.minPairs !== undefined) fields.push(rule);
  }
  r = { fields, requiredOneofs: type.oneofsArray.filter((o) => o.options?.['(validate.required)'] === true) };
  rulesCache.set(type, r);
  return r;
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const jsonNameIndex = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function fieldsByJsonKey(type: protobuf.Type): Map<string, protobuf.Field> {
  let m = jsonNameIndex.get(type);
  if (m) return m;
  m = new Map();
  for (const f of type.fieldsArray) {
    m.set(f.name, f);
    m.set(lowerCamel(f.name), f);
  }
  jsonNameIndex.set(type, m);
  return m;
}

function opt(f: protobuf.ReflectionObject, key: string): unknown {
  return f.options?.[key];
}

function convertDuration(v: unknown, path: string, issues: Issues): Obj | undefined {
  if (typeof v !== 'string') {
    issues.push({ path, message: `Duration must be a string like "1.5s", got ${JSON.stringify(v)}` });
    return undefined;
  }
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(v);
  if (!m) {
    issues.push({ path, message: `invalid Duration ${JSON.stringify(v)}` });
    return undefined;
  }
  const sign = m[1] ? -1 : 1;
  const seconds = Number(m[2]);
  const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  if (seconds > 315576000000) issues.push({ path, message: `Duration out of range ${v}` });
  return { seconds: sign * seconds, nanos: sign * nanos };
}

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;
// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range proto3 JSON allows
const TIMESTAMP_MIN_SECONDS = -62135596800;
const TIMESTAMP_MAX_SECONDS = 253402300799;

/**
 * RFC 3339 -> {seconds, nanos}. The fraction is read as digits, not through Date
 * (milliseconds only), and seconds are those of the whole-second instant, so nanos
 * stay in [0, 1e9) before 1970 too, as the Timestamp message requires.
 */
function convertTimestamp(v: unknown, path: string, issues: Issues): Obj | undefined {
  const m = typeof v === 'string' ? TIMESTAMP.exec(v) : null;
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || Number.isNaN(ms)) {
    issues.push({ path, message: `invalid Timestamp ${JSON.stringify(v)}` });
    return undefined;
  }
  const seconds = ms / 1000;
  if (seconds < TIMESTAMP_MIN_SECONDS || seconds > TIMESTAMP_MAX_SECONDS) issues.push({ path, message: `Timestamp out of range ${JSON.stringify(v)}` });
  return { seconds, nanos: m[2] ? Number(m[2].padEnd(9, '0')) : 0 };
}

// protobufjs defines google.protobuf.Value from its built-in descriptors, where field
// names may be camelCase whatever keepCase says; use whatever the loaded type has.
let valueKeys: Record<'null' | 'number' | 'string' | 'bool' | 'struct' | 'list', string> | undefined;

function vk(kind: 'null' | 'number' | 'string' | 'bool' | 'struct' | 'list'): string {
  if (!valueKeys) {
    const fields = messageType('google.protobuf.Value').fields;
    const pick = (snake: string): string => (fields[snake] ? snake : lowerCamel(snake));
    valueKeys = {
      null: pick('null_value'),
      number: pick('number_value'),
      string: pick('string_value'),
      bool: pick('bool_value'),
      struct: pick('struct_value'),
      list: pick('list_value'),
    };
  }
  return valueKeys[kind];
}

function convertValue(v: unknown, path: string, issues: Issues): Obj | undefined {
  if (v === null) return { [vk('null')]: 0 };
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) issues.push({ path, message: 'Value number must be finite' });
    return { [vk('number')]: v };
  }
  if (typeof v === 'string') return { [vk('string')]: v };
  if (typeof v === 'boolean') return { [vk('bool')]: v };
  if (Array.isArray(v)) return { [vk('list')]: { values: v.map((x, i) => convertValue(x, `${path}[${i}]`, issues)) } };
  if (isPlainObject(v)) return { [vk('struct')]: convertStruct(v, path, issues) };
  issues.push({ path, message: `not a JSON value: ${typeof v}` });
  return undefined;
}

function convertStruct(v: unknown, path: string, issues: Issues): Obj | undefined {
  if (!isPlainObject(v)) {
    issues.push({ path, message: 'Struct must be a JSON object' });
    return undefined;
  }
  const fields: Obj = {};
  for (const [k, x] of Object.entries(v)) fields[k] = convertValue(x, `${path}.${k}`, issues);
  return { fields };
}

function convertAny(v: unknown, path: string, issues: Issues): Obj | undefined {
  if (!isPlainObject(v)) {
    issues.push({ path, message: 'Any must be a JSON object with "@type"' });
    return undefined;
  }
  const url = v['@type'];
  if (typeof url !== 'string' || url === '') {
    issues.push({ path, message: 'Any without "@type"' });
    return undefined;
  }
  const name = url.slice(url.lastIndexOf('/') + 1);
  const inner = anyType(name);
  if (!inner) {
    issues.push({ path, message: `Any "@type" ${url} is not a known message type` });
    return undefined;
  }
  const payload: Obj = {};
  for (const [k, x] of Object.entries(v)) if (k !== '@type') payload[k] = x;
  const innerName = fullName(inner);
  const special = innerName.startsWith('google.protobuf.') && innerName !== 'google.protobuf.Empty';
  // WKTs with a special JSON form carry it under "value" inside an Any.
  const body = special ? payload['value'] : payload;
  if (special) {
    for (const k of Object.keys(payload)) if (k !== 'value') issues.push({ path: `${path}.${k}`, message: 'unknown field' });
  }
  const before = issues.length;
  const obj = convertMessage(inner, body, path, issues);
  if (issues.length > before || obj === undefined) return undefined;
  return { type_url: url, value: inner.encode(inner.fromObject(obj)).finish() };
}

function convertScalar(field: protobuf.Field, v: unknown, path: string, issues: Issues): unknown {
  const t = field.type;
  if (t === 'string') {
    if (typeof v !== 'string') issues.push({ path, message: `expected string, got ${JSON.stringify(v)}` });
    return v;
  }
  if (t === 'bool') {
    if (typeof v !== 'boolean') issues.push({ path, message: `expected boolean, got ${JSON.stringify(v)}` });
    return v;
  }
  if (t === 'bytes') {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/\-_]*={0,2}$/.test(v)) {
      issues.push({ path, message: 'expected base64 string' });
      return undefined;
    }
    return Buffer.from(v, 'base64');
  }
  if (t === 'double' || t === 'float') {
    if (typeof v === 'number') return v;
    if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
    if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
    issues.push({ path, message: `expected number, got ${JSON.stringify(v)}` });
    return undefined;
  }
  const range = INT_RANGES[t];
  if (range || LONG_TYPES.has(t)) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) {
      issues.push({ path, message: `expected integer (${t}), got ${JSON.stringify(v)}` });
      return undefined;
    }
    const [lo, hi] = range ?? (t.startsWith('u') || t === 'fixed64' ? [0, Number.MAX_SAFE_INTEGER] : [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]);
    if (n < lo || n > hi) issues.push({ path, message: `${t} out of range: ${n}` });
    return LONG_TYPES.has(t) && typeof v === 'string' ? v : n;
  }
  issues.push({ path, message: `unsupported scalar type ${t}` });
  return undefined;
}

function convertEnum(e: protobuf.Enum, v: unknown, path: string, issues: Issues): unknown {
  if (typeof v === 'string') {
    if (!(v in e.values)) issues.push({ path, message: `${JSON.stringify(v)} is not a value of enum ${fullName(e)}` });
    return v;
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (!Object.values(e.values).includes(v)) issues.push({ path, message: `${v} is not a value of enum ${fullName(e)}` });
    return v;
  }
  issues.push({ path, message: `expected enum name of ${fullName(e)}, got ${JSON.stringify(v)}` });
  return undefined;
}

function convertSingle(field: protobuf.Field, v: unknown, path: string, issues: Issues): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    // google.protobuf.NullValue is written as JSON null
    if (fullName(rt) === 'google.protobuf.NullValue' && v === null) return 0;
    return convertEnum(rt, v, path, issues);
  }
  if (rt instanceof protobuf.Type) return convertMessage(rt, v, path, issues);
  return convertScalar(field, v, path, issues);
}

function checkNumericRules(field: protobuf.Field, v: unknown, path: string, issues: Issues): void {
  if (typeof v !== 'number') return;
  const kind = field.type;
  const gt = opt(field, `(validate.rules).${kind}.gt`);
  const gte = opt(field, `(validate.rules).${kind}.gte`);
  const lt = opt(field, `(validate.rules).${kind}.lt`);
  const lte = opt(field, `(validate.rules).${kind}.lte`);
  if (typeof gt === 'number' && !(v > gt)) issues.push({ path, message: `must be > ${gt}` });
  if (typeof gte === 'number' && !(v >= gte)) issues.push({ path, message: `must be >= ${gte}` });
  if (typeof lt === 'number' && !(v < lt)) issues.push({ path, message: `must be < ${lt}` });
  if (typeof lte === 'number' && !(v <= lte)) issues.push({ path, message: `must be <= ${lte}` });
}

/** Converts one message from proto3 JSON into protobufjs object form, recording every issue. */
export function convertMessage(type: protobuf.Type, v: unknown, path: string, issues: Issues): Obj | undefined {
  const name = fullName(type);
  switch (name) {
    case 'google.protobuf.Any':
      return convertAny(v, path, issues);
    case 'google.protobuf.Duration':
      return convertDuration(v, path, issues);
    case 'google.protobuf.Timestamp':
      return convertTimestamp(v, path, issues);
    case 'google.protobuf.Struct':
      return convertStruct(v, path, issues);
    case 'google.protobuf.Value':
      return convertValue(v, path, issues);
    case 'google.protobuf.ListValue':
      if (!Array.isArray(v)) {
        issues.push({ path, message: 'ListValue must be an array' });
        return undefined;
      }
      return { values: v.map((x, i) => convertValue(x, `${path}[${i}]`, issues)) };
    case 'google.protobuf.FieldMask':
      if (typeof v !== 'string') {
        issues.push({ path, message: 'FieldMask must be a string' });
        return undefined;
      }
      return { paths: v === '' ? [] : v.split(',') };
    default:
      break;
  }
  if (WRAPPERS.has(name)) {
    const f = type.fields['value'];
    if (!f) return undefined;
    if (v === null || isPlainObject(v) || Array.isArray(v)) {
      issues.push({ path, message: `${name} is written as a bare ${f.type}, got ${JSON.stringify(v)}` });
      return undefined;
    }
    return { value: convertScalar(f, v, path, issues) };
  }
  if (!isPlainObject(v)) {
    issues.push({ path, message: `expected object for ${name}, got ${Array.isArray(v) ? 'array' : JSON.stringify(v)}` });
    return undefined;
  }
  const out: Obj = {};
  const index = fieldsByJsonKey(type);
  const oneofSeen = new Map<string, string>();
  for (const [key, raw] of Object.entries(v)) {
    const p = path ? `${path}.${key}` : key;
    const field = index.get(key);
    if (!field) {
      const reserved = type.reserved?.some((r) => r === key);
      issues.push({ path: p, message: reserved ? `field is reserved (removed) in ${name}` : `unknown field in ${name}` });
      continue;
    }
    if (raw === null && fullName(field.resolvedType ?? field) !== 'google.protobuf.Value') continue;
    if (out[field.name] !== undefined) {
      issues.push({ path: p, message: `field ${field.name} given twice` });
      continue;
    }
    if (field.options?.['deprecated'] === true) issues.push({ path: p, message: `deprecated field of ${name}` });
    if (field.partOf) {
      const prev = oneofSeen.get(field.partOf.name);
      if (prev) issues.push({ path: p, message: `oneof ${field.partOf.name} already set by ${prev}` });
      oneofSeen.set(field.partOf.name, field.name);
    }
    if (field instanceof protobuf.MapField) {
      if (!isPlainObject(raw)) {
        issues.push({ path: p, message: 'map must be a JSON object' });
        continue;
      }
      const m: Obj = {};
      for (const [mk, mv] of Object.entries(raw)) {
        if (field.keyType !== 'string' && !/^-?\d+$|^true$|^false$/.test(mk)) issues.push({ path: `${p}.${mk}`, message: `map key must be ${field.keyType}` });
        m[mk] = convertSingle(field, mv, `${p}.${mk}`, issues);
      }
      out[field.name] = m;
      continue;
    }
    if (field.repeated) {
      if (!Array.isArray(raw)) {
        issues.push({ path: p, message: `expected array, got ${JSON.stringify(raw)}` });
        continue;
      }
      out[field.name] = raw.map((x, i) => convertSingle(field, x, `${p}[${i}]`, issues));
      continue;
    }
    const val = convertSingle(field, raw, p, issues);
    checkNumericRules(field, val, p, issues);
    out[field.name] = val;
  }
  checkPresenceRules(type, out, path, issues);
  return out;
}

function checkPresenceRules(type: protobuf.Type, out: Obj, path: string, issues: Issues): void {
  const rules = typeRules(type);
  for (const rule of rules.fields) {
    const field = rule.field;
    const value = out[field.name];
    const present = value !== undefined;
    // rules on a oneof member apply only when that member is the one set
    if (field.partOf && !present) continue;
    const p = path ? `${path}.${field.name}` : field.name;
    if (rule.required && !present) issues.push({ path: p, message: 'required field missing' });
    if (rule.minLen !== undefined && (typeof value === 'string' ? value.length : 0) < rule.minLen) {
      issues.push({ path: p, message: `string shorter than ${rule.minLen}` });
    }
    if (rule.minItems !== undefined && (Array.isArray(value) ? value.length : 0) < rule.minItems) {
      issues.push({ path: p, message: `needs at least ${rule.minItems} item(s)` });
    }
    if (rule.minPairs !== undefined && (isPlainObject(value) ? Object.keys(value).length : 0) < rule.minPairs) {
      issues.push({ path: p, message: `needs at least ${rule.minPairs} entr(ies)` });
    }
  }
  for (const oneof of rules.requiredOneofs) {
    if (!oneof.fieldsArray.some((f) => out[f.name] !== undefined)) {
      issues.push({ path: path ? `${path}.${oneof.name}` : oneof.name, message: `one of ${oneof.fieldsArray.map((f) => f.name).join('|')} is required` });
    }
  }
}

/** Every problem Envoy's strict parser (plus its validation rules) would report for `json` as `typeName`. */
export function checkProtoJson(typeName: string, json: unknown): ProtoJsonIssue[] {
  const issues: Issues = [];
  convertMessage(messageType(typeName), json, '', issues);
  return issues;
}

/** Encodes proto3 JSON to protobuf binary, throwing ProtoJsonError on any strictness issue. */
export function encodeProtoJson(typeName: string, json: unknown): Uint8Array {
  const type = messageType(typeName);
  const issues: Issues = [];
  const obj = convertMessage(type, json, '', issues);
  if (issues.length > 0 || obj === undefined) throw new ProtoJsonError(typeName, issues);
  return type.encode(type.fromObject(obj)).finish();
}
