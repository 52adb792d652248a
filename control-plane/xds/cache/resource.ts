import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { encodeProtoJson } from '../../proto/json.js';
import { ANY, lengthDelimitedKey } from '../../proto/wire.js';
import { MESSAGE_TYPES, resourceName, TYPE_URL_PREFIX, type Json, type XdsType } from '../translate/common.js';

/**
 * Encoded resources. A resource whose bytes did not change keeps its object
 * identity across generations, so "did anything this proxy sees change?" is an
 * identity comparison, and a resource is encoded once per version no matter how
 * many proxies receive it.
 */

/** Make-before-break: clusters, then their endpoints, then listeners, then routes. */
export const PUSH_ORDER: readonly XdsType[] = ['cluster', 'endpoint', 'listener', 'route'];

const BY_URL = new Map<string, XdsType>(Object.entries(MESSAGE_TYPES).map(([k, v]) => [TYPE_URL_PREFIX + v, k as XdsType]));

export function typeOfUrl(url: string): XdsType | undefined {
  return BY_URL.get(url);
}

export function urlOfType(t: XdsType): string {
  return TYPE_URL_PREFIX + MESSAGE_TYPES[t];
}

export interface Resource {
  readonly type: XdsType;
  readonly name: string;
  /** the resource message itself */
  readonly value: Uint8Array;
  /** the resource wrapped in google.protobuf.Any, ready to embed in a response */
  readonly any: Uint8Array;
  /** per-resource version for the incremental protocol: a hash of the encoded resource */
  readonly version: string;
}

export type ResourceMap = ReadonlyMap<string, Resource>;
export type ResourceSet = Record<XdsType, Map<string, Resource>>;

export function emptySet(): ResourceSet {
  return { cluster: new Map(), endpoint: new Map(), listener: new Map(), route: new Map() };
}

function encodeAnyBytes(type: XdsType, value: Uint8Array): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(lengthDelimitedKey(ANY.type_url)).string(urlOfType(type));
  w.uint32(lengthDelimitedKey(ANY.value)).bytes(value);
  return w.finish();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** A resource from its bytes; `prev` itself when it has the same name and bytes. */
export function resourceOfBytes(type: XdsType, name: string, value: Uint8Array, prev: Resource | undefined): Resource {
  if (prev && prev.name === name && sameBytes(prev.value, value)) return prev;
  // A content hash, not a counter: a client that reconnects to a restarted control
  // plane with initial_resource_versions must not match a different resource by chance.
  const version = createHash('sha256').update(value).digest('base64url').slice(0, 16);
  return { type, name, value, any: encodeAnyBytes(type, value), version };
}

/** Encodes (strictly, see proto/json.ts); reuses `prev` when the bytes are identical. */
export function makeResource(type: XdsType, json: Json, prev: Resource | undefined): Resource {
  return resourceOfBytes(type, resourceName(type, json), encodeProtoJson(MESSAGE_TYPES[type], json), prev);
}

/** Whether two sets hold the same resource objects under the same names. */
export function sameMembers(a: ResourceMap, b: ResourceMap): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
