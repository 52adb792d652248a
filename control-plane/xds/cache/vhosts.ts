import protobuf from 'protobufjs';
import { encodeProtoJson } from '../../proto/json.js';
import { lengthDelimitedKey, ROUTE_CONFIGURATION } from '../../proto/wire.js';
import { MESSAGE_TYPES, type Json } from '../translate/common.js';

const VIRTUAL_HOST = 'envoy.config.route.v3.VirtualHost';

/**
 * Encoded virtual hosts by their JSON. A sidecar route configuration differs between
 * namespaces only in the virtual hosts of that namespace's own services (short
 * names), so the other virtual hosts are encoded once and shared by every namespace
 * and, while they do not change, by every generation. Not an LRU: it holds exactly
 * the virtual hosts of the current and previous route view of the registry (the
 * live configuration, whatever its size), dropped a rotation after their last use.
 */
export class VirtualHostCache {
  private entries = new Map<string, Uint8Array>();
  private used = new Map<string, Uint8Array>();

  encode(vhost: Json): Uint8Array {
    const key = JSON.stringify(vhost);
    let bytes = this.used.get(key) ?? this.entries.get(key);
    if (!bytes) bytes = encodeProtoJson(VIRTUAL_HOST, vhost);
    this.used.set(key, bytes);
    return bytes;
  }

  /** Starts a new generation: entries not used since the last call are dropped at the next one. */
  rotate(): void {
    this.entries = this.used;
    this.used = new Map();
  }
}

/**
 * A RouteConfiguration from its JSON, its virtual hosts encoded through `cache`.
 * Each part goes through the strict encoder; the bytes are the configuration
 * without virtual hosts followed by the virtual hosts (protobuf fields may come in
 * any order; repeated ones keep theirs).
 */
export function encodeRouteConfig(json: Json, cache: VirtualHostCache): Uint8Array {
  const vhosts = (json['virtual_hosts'] as Json[] | undefined) ?? [];
  const parts: Uint8Array[] = [encodeProtoJson(MESSAGE_TYPES.route, { ...json, virtual_hosts: [] })];
  for (const vh of vhosts) {
    const bytes = cache.encode(vh);
    parts.push(protobuf.Writer.create().uint32(lengthDelimitedKey(ROUTE_CONFIGURATION.virtual_hosts)).uint32(bytes.length).finish(), bytes);
  }
  return Buffer.concat(parts);
}
