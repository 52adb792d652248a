import protobuf from 'protobufjs';
import { envoyRoot, messageType } from './root.js';

/**
 * Binary protobuf -> proto3 JSON (snake_case field names, WKTs in their JSON form,
 * `Any` expanded by its `@type`). Used to read back what went over the wire, so
 * tests can check served resources with the strict checker.
 */
type Obj = Record<string, unknown>;

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.startsWith('.') ? t.fullName.slice(1) : t.fullName;
}

function durationJson(o: Obj): string {
  const s = Number(o['seconds'] ?? 0);
  const n = Number(o['nanos'] ?? 0);
  if (n === 0) return `${s}s`;
  const neg = s < 0 || n < 0;
  const frac = String(Math.abs(n)).padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${Math.abs(s)}.${frac}s`;
}

function pick(o: Obj, snake: string): [boolean, unknown] {
  if (snake in o) return [true, o[snake]];
  const camel = snake.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  return camel in o ? [true, o[camel]] : [false, undefined];
}

// protobufjs' built-in google.protobuf.Value may use camelCase field names: accept both.
function valueJson(o: Obj): unknown {
  for (const k of ['number_value', 'string_value', 'bool_value']) {
    const [has, v] = pick(o, k);
    if (has) return v;
  }
  const [hasStruct, sv] = pick(o, 'struct_value');
  if (hasStruct) return structJson(sv as Obj);
  const [hasList, lv] = pick(o, 'list_value');
  if (hasList) return (((lv as Obj)['values'] as Obj[] | undefined) ?? []).map(valueJson);
  return null;
}

function structJson(o: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries((o['fields'] as Obj | undefined) ?? {})) out[k] = valueJson(v as Obj);
  return out;
}

function anyJson(o: Obj): Obj {
  const url = String(o['type_url'] ?? '');
  let inner: protobuf.Type;
  try {
    inner = envoyRoot().lookupType(url.slice(url.lastIndexOf('/') + 1));
  } catch {
    // a type we do not know (e.g. in a client's error details): keep the raw bytes
    return { '@type': url, value: typeof o['value'] === 'string' ? o['value'] : '' };
  }
  const bytes = typeof o['value'] === 'string' ? Buffer.from(o['value'], 'base64') : (o['value'] as Uint8Array | undefined) ?? new Uint8Array();
  const body = messageJson(inner, toPlain(inner, inner.decode(bytes)));
  const name = fullName(inner);
  if (name.startsWith('google.protobuf.') && name !== 'google.protobuf.Empty') return { '@type': url, value: body };
  return { '@type': url, ...(body as Obj) };
}

function toPlain(type: protobuf.Type, msg: protobuf.Message): Obj {
  // not json: true, whose Any handling would pre-expand payloads with protobufjs' own rules
  return type.toObject(msg, { longs: String, enums: String, bytes: String, defaults: false });
}

function fieldJson(field: protobuf.Field, v: unknown): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageJson(rt, v as Obj);
  return v;
}

function messageJson(type: protobuf.Type, o: Obj): unknown {
  const name = fullName(type);
  switch (name) {
    case 'google.protobuf.Any':
      return anyJson(o);
    case 'google.protobuf.Duration':
      return durationJson(o);
    case 'google.protobuf.Timestamp':
      return new Date(Number(o['seconds'] ?? 0) * 1000 + Math.floor(Number(o['nanos'] ?? 0) / 1e6)).toISOString();
    case 'google.protobuf.Struct':
      return structJson(o);
    case 'google.protobuf.Value':
      return valueJson(o);
    case 'google.protobuf.ListValue':
      return ((o['values'] as Obj[] | undefined) ?? []).map(valueJson);
    default:
      break;
  }
  if (name.startsWith('google.protobuf.') && name.endsWith('Value') && type.fields['value']) {
    return o['value'] ?? (type.fields['value'].type === 'string' ? '' : type.fields['value'].type === 'bool' ? false : 0);
  }
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) {
    const field = type.fields[k];
    if (!field) continue;
    if (field instanceof protobuf.MapField) {
      const m: Obj = {};
      for (const [mk, mv] of Object.entries(v as Obj)) m[mk] = fieldJson(field, mv);
      out[k] = m;
    } else if (field.repeated) {
      out[k] = (v as unknown[]).map((x) => fieldJson(field, x));
    } else {
      out[k] = fieldJson(field, v);
    }
  }
  return out;
}

/** Decodes `bytes` as `typeName` and returns its proto3 JSON form. */
export function decodeToJson(typeName: string, bytes: Uint8Array): unknown {
  const type = messageType(typeName);
  return messageJson(type, toPlain(type, type.decode(bytes)));
}
