import protobuf from 'protobufjs';
import { envoyRoot, fullName, messageType } from './root.js';
import { DISCOVERY_REQUEST as REQUEST, fieldOfKey } from './wire.js';

/**
 * Binary protobuf -> proto3 JSON (snake_case field names, WKTs in their JSON form,
 * `Any` expanded by its `@type`). Used to read back what went over the wire, so
 * tests can check served resources with the strict checker.
 */
type Obj = Record<string, unknown>;

function durationJson(o: Obj): string {
  const s = Number(o['seconds'] ?? 0);
  const n = Number(o['nanos'] ?? 0);
  if (n === 0) return `${s}s`;
  const neg = s < 0 || n < 0;
  const frac = String(Math.abs(n)).padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${Math.abs(s)}.${frac}s`;
}

/** {seconds, nanos} -> RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits (proto3 JSON). */
function timestampJson(o: Obj): string {
  const whole = new Date(Number(o['seconds'] ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  const nanos = Number(o['nanos'] ?? 0);
  if (nanos === 0) return `${whole}Z`;
  const digits = String(nanos).padStart(9, '0');
  const frac = digits.endsWith('000000') ? digits.slice(0, 3) : digits.endsWith('000') ? digits.slice(0, 6) : digits;
  return `${whole}.${frac}Z`;
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
      return timestampJson(o);
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

/**
 * The same result as `decodeToJson` for the requests ADS streams receive, cheaper:
 * protobufjs' decoder, then only nested messages (node, error_detail) go through the
 * JSON walk. Every ACK of an Envoy repeats its whole subscription (thousands of
 * EDS names), so this runs on every request of every stream.
 */
export function decodeRequestToJson(typeName: string, bytes: Uint8Array): Obj {
  const type = messageType(typeName);
  const msg = type.decode(bytes) as unknown as Obj;
  const out: Obj = {};
  // own properties are exactly the fields present on the wire
  for (const key of Object.keys(msg)) {
    const field = type.fields[key];
    if (!field) continue;
    const v = msg[key];
    // the generated decoder pre-creates empty repeated and map fields; proto3 JSON omits them
    if (field.repeated && (v as unknown[]).length === 0) continue;
    if (field instanceof protobuf.MapField && Object.keys(v as Obj).length === 0) continue;
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Type) {
      const one = (x: unknown): unknown => messageJson(rt, toPlain(rt, x as protobuf.Message));
      if (field instanceof protobuf.MapField) out[key] = Object.fromEntries(Object.entries(v as Obj).map(([k, x]) => [k, one(x)]));
      else out[key] = field.repeated ? (v as unknown[]).map(one) : one(v);
    } else if (field instanceof protobuf.MapField) {
      out[key] = { ...(v as Obj) };
    } else {
      out[key] = v;
    }
  }
  return out;
}

/** The raw bytes of a DiscoveryRequest's resource_names fields (see decodeDiscoveryRequest). */
export const RAW_NAMES = Symbol('resource_names bytes');

function readNames(raw: Uint8Array): string[] {
  const r = protobuf.Reader.create(raw);
  const out: string[] = [];
  while (r.pos < r.len) {
    r.uint32();
    out.push(r.string());
  }
  return out;
}

/**
 * A state-of-the-world DiscoveryRequest as proto3 JSON (like decodeToJson), with
 * `resource_names` decoded only when read and their raw bytes under RAW_NAMES:
 * an ACK repeats the whole subscription, and a stream that finds the same bytes
 * as last time never needs the names as strings.
 */
export function decodeDiscoveryRequest(bytes: Uint8Array): Obj & { [RAW_NAMES]?: Uint8Array } {
  const r = protobuf.Reader.create(bytes);
  const out: Obj & { [RAW_NAMES]?: Uint8Array } = {};
  let start = -1;
  let end = -1;
  let contiguous = true;
  const sub = (): Uint8Array => {
    const len = r.uint32();
    const b = bytes.subarray(r.pos, r.pos + len);
    r.skip(len);
    return b;
  };
  while (r.pos < r.len) {
    const at = r.pos;
    const tag = r.uint32();
    switch (fieldOfKey(tag)) {
      case REQUEST.version_info:
        out['version_info'] = r.string();
        break;
      case REQUEST.node:
        out['node'] = decodeToJson('envoy.config.core.v3.Node', sub());
        break;
      case REQUEST.resource_names:
        r.skip(r.uint32());
        if (start < 0) start = at;
        else if (end !== at) contiguous = false;
        end = r.pos;
        break;
      case REQUEST.type_url:
        out['type_url'] = r.string();
        break;
      case REQUEST.response_nonce:
        out['response_nonce'] = r.string();
        break;
      case REQUEST.error_detail:
        out['error_detail'] = decodeToJson('google.rpc.Status', sub());
        break;
      default:
        // resource_locators and anything newer: the generic path
        return decodeRequestToJson('envoy.service.discovery.v3.DiscoveryRequest', bytes);
    }
  }
  if (start >= 0) {
    if (!contiguous) return decodeRequestToJson('envoy.service.discovery.v3.DiscoveryRequest', bytes);
    const raw = bytes.subarray(start, end);
    out[RAW_NAMES] = raw;
    let names: string[] | undefined;
    Object.defineProperty(out, 'resource_names', { enumerable: true, get: () => (names ??= readNames(raw)) });
  }
  return out;
}
